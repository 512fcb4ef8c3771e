package sqlstore

import (
	"fmt"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// Reply stores a secure reply as it is (pending, delivered or failed).
func (im *Importer) Reply(r keyserver.StoredReply) error {
	data, err := encode(r)
	if err != nil {
		return err
	}
	if _, err := im.exec("INSERT INTO replies (id, envelope, created, next_attempt, data) VALUES (?, ?, ?, ?, ?)",
		r.ID, r.Envelope[:], timeKey(r.Created), replyNext(&r), data); err != nil {
		return fmt.Errorf("import reply %s: %w", r.ID, err)
	}
	return nil
}

// ThreadHash stores a thread hash until expires.
func (im *Importer) ThreadHash(hash []byte, expires time.Time) error {
	if _, err := im.exec("INSERT INTO thread_hashes (hash, expires) VALUES (?, ?)", hash, timeKey(expires)); err != nil {
		return fmt.Errorf("import thread hash: %w", err)
	}
	return nil
}
