package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
)

// PutEnvelopes registers envs, skipping those already registered with the same
// KeyCheck; one conflicting envelope refuses the whole batch.
func (s *Store) PutEnvelopes(ctx context.Context, envs []keyserver.NewEnvelope, events []keyserver.AuditEvent) error {
	return s.write(ctx, func(tx *bolt.Tx) error {
		// Check everything before writing anything, so that a conflict is a
		// refusal and does not redo the batch it shares a commit with.
		fresh, err := newEnvelopes(tx, envs)
		if err != nil {
			return refusal{err}
		}
		payloads := tx.Bucket(bucketPayloads)
		for _, ne := range fresh {
			err := errors.Join(
				put(tx.Bucket(bucketEnvelopes), ne.Record.ID[:], ne.Record),
				reindex(tx, ne.Record.ID, nil, indexedFields(&ne.Record), s.viewLayout),
			)
			if err != nil {
				return fmt.Errorf("put envelope %s: %w", ne.Record.ID, err)
			}
			if len(ne.Payload) > 0 {
				if err := payloads.Put(ne.Record.ID[:], ne.Payload); err != nil {
					return fmt.Errorf("put payload %s: %w", ne.Record.ID, err)
				}
			}
			if len(ne.Record.Ciphertext) > 0 {
				if err := addCiphertextRef(tx, ne.Record.Ciphertext); err != nil {
					return fmt.Errorf("envelope %s: %w", ne.Record.ID, err)
				}
			}
		}
		if err := s.appendAudit(tx, events); err != nil {
			return fmt.Errorf("put envelopes: %w", err)
		}
		return nil
	})
}

// newEnvelopes returns the envelopes of envs not yet stored, or ErrConflict if one
// is stored (or repeated in envs) with another KeyCheck.
func newEnvelopes(tx *bolt.Tx, envs []keyserver.NewEnvelope) ([]keyserver.NewEnvelope, error) {
	b := tx.Bucket(bucketEnvelopes)
	seen := make(map[envelope.ID][]byte, len(envs))
	var fresh []keyserver.NewEnvelope
	for _, ne := range envs {
		id := ne.Record.ID
		if ne.Record.HasPayload != (len(ne.Payload) > 0) {
			return nil, fmt.Errorf("envelope %s: HasPayload is %t with a %d-byte payload", id, ne.Record.HasPayload, len(ne.Payload))
		}
		if len(ne.Record.Ciphertext) > 0 && !ne.Record.HasPayload {
			return nil, fmt.Errorf("envelope %s: a shared ciphertext without a payload head", id)
		}
		check, ok := seen[id]
		if !ok {
			var old keyserver.EnvelopeRecord
			found, err := get(b, id[:], &old)
			if err != nil {
				return nil, fmt.Errorf("envelope %s: %w", id, err)
			}
			check, ok = old.KeyCheck, found
		}
		if ok {
			if !bytes.Equal(check, ne.Record.KeyCheck) {
				return nil, fmt.Errorf("envelope %s with another key: %w", id, keyserver.ErrConflict)
			}
			continue
		}
		if len(ne.Record.Ciphertext) > 0 {
			if err := checkCiphertext(tx, ne.Record.Ciphertext); err != nil {
				return nil, fmt.Errorf("envelope %s: %w", id, err)
			}
		}
		seen[id] = ne.Record.KeyCheck
		fresh = append(fresh, ne)
	}
	return fresh, nil
}

// Envelope returns one envelope.
func (s *Store) Envelope(ctx context.Context, id envelope.ID) (keyserver.EnvelopeRecord, error) {
	var r keyserver.EnvelopeRecord
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := getMemo(s.memos.envelopes, tx.Bucket(bucketEnvelopes), id[:], &r)
		if err == nil && !found {
			err = keyserver.ErrNotFound
		}
		return err
	})
	if err != nil {
		return keyserver.EnvelopeRecord{}, fmt.Errorf("envelope %s: %w", id, err)
	}
	return r, nil
}

// UpdateEnvelope changes one envelope with fn, in a commit shared with concurrent
// writes: the key server's hot path.
func (s *Store) UpdateEnvelope(ctx context.Context, id envelope.ID, fn func(*keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error)) (keyserver.EnvelopeRecord, error) {
	var out keyserver.EnvelopeRecord
	err := s.write(ctx, func(tx *bolt.Tx) error {
		var r keyserver.EnvelopeRecord
		found, err := getMemo(s.memos.envelopes, tx.Bucket(bucketEnvelopes), id[:], &r)
		if err != nil {
			return fmt.Errorf("envelope %s: %w", id, err)
		}
		if !found {
			return refusal{fmt.Errorf("envelope %s: %w", id, keyserver.ErrNotFound)}
		}
		// Before fn, which may change the record's slices in place.
		before := indexedFields(&r)
		hadPayload := r.HasPayload
		ciphertext := bytes.Clone(r.Ciphertext)
		events, err := fn(&r)
		if err != nil {
			return refusal{err}
		}
		if err := checkEnvelopeChange(id, hadPayload, &r); err != nil {
			return refusal{err}
		}
		if !bytes.Equal(r.Ciphertext, ciphertext) {
			return refusal{fmt.Errorf("update envelope %s: fn changed the shared ciphertext it references", id)}
		}
		if err := s.writeEnvelopeUpdate(tx, before, hadPayload, &r, events); err != nil {
			return fmt.Errorf("update envelope %s: %w", id, err)
		}
		out = r
		return nil
	})
	if err != nil {
		return keyserver.EnvelopeRecord{}, err
	}
	return out, nil
}

// checkEnvelopeChange refuses changes that fn may not make: the id is the key,
// and a payload can only be stored by PutEnvelopes.
func checkEnvelopeChange(id envelope.ID, hadPayload bool, r *keyserver.EnvelopeRecord) error {
	switch {
	case r.ID != id:
		return fmt.Errorf("update envelope %s: fn changed the id to %s", id, r.ID)
	case r.HasPayload && !hadPayload:
		return fmt.Errorf("update envelope %s: fn set HasPayload, but there is no payload", id)
	}
	return nil
}

func (s *Store) writeEnvelopeUpdate(tx *bolt.Tx, before indexed, hadPayload bool, r *keyserver.EnvelopeRecord, events []keyserver.AuditEvent) error {
	if err := putMemo(s.memos.envelopes, tx.Bucket(bucketEnvelopes), r.ID[:], r); err != nil {
		return err
	}
	// Most updates (a release, a lock) touch no indexed field: skip building keys.
	if after := indexedFields(r); !after.same(before) {
		if err := reindex(tx, r.ID, &before, after, s.viewLayout); err != nil {
			return err
		}
	}
	if hadPayload && !r.HasPayload {
		if err := tx.Bucket(bucketPayloads).Delete(r.ID[:]); err != nil {
			return fmt.Errorf("delete payload: %w", err)
		}
		if len(r.Ciphertext) > 0 {
			if err := dropCiphertextRef(tx, r.Ciphertext); err != nil {
				return err
			}
		}
	}
	return s.appendAudit(tx, events)
}

// indexed is what an envelope's index entries depend on.
type indexed struct {
	sender, recipient string
	created, expires  time.Time // zero expires: never, so not in the expiry index
	hasKey            bool      // a destroyed key needs no sweeping
}

func indexedFields(r *keyserver.EnvelopeRecord) indexed {
	return indexed{r.Sender, r.Recipient, r.Created, r.Expires, len(r.WrappedKey) > 0}
}

func (x indexed) same(y indexed) bool {
	return x.sender == y.sender && x.recipient == y.recipient &&
		x.created.Equal(y.created) && x.expires.Equal(y.expires) && x.hasKey == y.hasKey
}

// envIndex holds an envelope's keys in the index buckets; nil means no entry.
type envIndex struct {
	sender, recipient, created, expiry []byte
}

func (x indexed) keys(id envelope.ID, layout viewLayout) (envIndex, error) {
	sender, err := addrKey(x.sender)
	if err != nil {
		return envIndex{}, fmt.Errorf("sender: %w", err)
	}
	recipient, err := addrKey(x.recipient)
	if err != nil {
		return envIndex{}, fmt.Errorf("recipient: %w", err)
	}
	created := timeKey(x.created)
	if layout == viewsByDay {
		day := timeKey(x.created.UTC().Truncate(24 * time.Hour))
		sender, recipient = join(day, sender), join(day, recipient)
	}
	ix := envIndex{
		sender:    join(sender, created, id[:]),
		recipient: join(recipient, created, id[:]),
		created:   join(created, id[:]),
	}
	if !x.expires.IsZero() && x.hasKey {
		ix.expiry = join(timeKey(x.expires), id[:])
	}
	return ix, nil
}

// reindex moves an envelope's index entries from those of before (nil: a new
// envelope, with none) to those of after, in the views' layout (another than
// viewsByAddress only in measurements).
func reindex(tx *bolt.Tx, id envelope.ID, before *indexed, after indexed, layout viewLayout) error {
	var old envIndex
	if before != nil {
		var err error
		if old, err = before.keys(id, layout); err != nil {
			return err
		}
	}
	ix, err := after.keys(id, layout)
	if err != nil {
		return err
	}
	if layout == viewsNone {
		return putIndex(tx.Bucket(bucketEnvByExpiry), old.expiry, ix.expiry)
	}
	return errors.Join(
		putIndex(tx.Bucket(bucketEnvBySender), old.sender, ix.sender),
		putIndex(tx.Bucket(bucketEnvByRecipient), old.recipient, ix.recipient),
		putIndex(tx.Bucket(bucketEnvByCreated), old.created, ix.created),
		putIndex(tx.Bucket(bucketEnvByExpiry), old.expiry, ix.expiry),
	)
}

// ListEnvelopes walks one index backwards (newest first) over the Created range
// of q: the recipient's if q names one (a recipient has far fewer envelopes than
// a sender), else the sender's, else all envelopes. With both, each entry's
// sender is checked by a lookup in the sender's index, so only the records
// returned are decoded.
func (s *Store) ListEnvelopes(ctx context.Context, q keyserver.EnvelopeQuery) ([]keyserver.EnvelopeRecord, error) {
	var out []keyserver.EnvelopeRecord
	err := s.view(ctx, func(tx *bolt.Tx) error {
		index, prefix, err := envelopeIndex(tx, q)
		if err != nil {
			return err
		}
		envs := tx.Bucket(bucketEnvelopes)
		var senderPrefix []byte // set when walking the recipient's index for a sender too
		if q.Sender != "" && q.Recipient != "" {
			if senderPrefix, err = addrKey(q.Sender); err != nil {
				return err
			}
		}
		bySender := tx.Bucket(bucketEnvBySender)
		lower, upper := envelopeRange(prefix, q)
		c := index.Cursor()
		for k := seekBefore(c, upper); k != nil && bytes.Compare(k, lower) >= 0; k, _ = c.Prev() {
			if q.Limit > 0 && len(out) == q.Limit {
				break
			}
			if senderPrefix != nil && bySender.Get(join(senderPrefix, k[len(prefix):])) == nil {
				continue // another sender's
			}
			var r keyserver.EnvelopeRecord
			id := k[len(k)-idLen:]
			if _, err := get(envs, id, &r); err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list envelopes: %w", err)
	}
	return out, nil
}

func envelopeIndex(tx *bolt.Tx, q keyserver.EnvelopeQuery) (*bolt.Bucket, []byte, error) {
	switch {
	case q.Recipient != "":
		prefix, err := addrKey(q.Recipient)
		return tx.Bucket(bucketEnvByRecipient), prefix, err
	case q.Sender != "":
		prefix, err := addrKey(q.Sender)
		return tx.Bucket(bucketEnvBySender), prefix, err
	}
	return tx.Bucket(bucketEnvByCreated), nil, nil
}

// envelopeRange returns the index keys bounding q's Created range: lower is the
// least key in it, upper sorts after every key in it.
func envelopeRange(prefix []byte, q keyserver.EnvelopeQuery) (lower, upper []byte) {
	lower, upper = prefix, join(prefix, maxTimeKey)
	if !q.Since.IsZero() {
		lower = join(prefix, timeKey(q.Since))
	}
	if !q.Until.IsZero() {
		upper = join(prefix, timeKey(q.Until))
	}
	// The cursor's own key sorts at the cursor: seekBefore starts below it.
	if q.After != nil {
		if after := join(prefix, timeKey(q.After.Created), q.After.ID[:]); bytes.Compare(after, upper) < 0 {
			upper = after
		}
	}
	if lower == nil {
		lower = []byte{}
	}
	return lower, upper
}

// seekBefore positions c on the last key before upper.
func seekBefore(c *bolt.Cursor, upper []byte) []byte {
	if k, _ := c.Seek(upper); k == nil {
		k, _ = c.Last()
		return k
	}
	k, _ := c.Prev()
	return k
}

// ExpiredEnvelopes lists envelopes past Expires whose keys still exist, soonest
// expired first; the expiry index holds only those, so this reads no others.
func (s *Store) ExpiredEnvelopes(ctx context.Context, now time.Time, limit int) ([]envelope.ID, error) {
	var ids []envelope.ID
	end := timeKey(now)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEnvByExpiry).Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k[:timeLen], end) < 0; k, _ = c.Next() {
			if limit > 0 && len(ids) == limit {
				break
			}
			ids = append(ids, envelope.ID(k[timeLen:]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("expired envelopes: %w", err)
	}
	return ids, nil
}

// Payload returns a copy of an envelope's online blob, assembled from its head
// and the shared ciphertext when it references one: in one read transaction, so
// the two always belong together.
func (s *Store) Payload(ctx context.Context, id envelope.ID) ([]byte, error) {
	var p []byte
	err := s.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketPayloads).Get(id[:])
		if v == nil {
			return keyserver.ErrNotFound
		}
		var r keyserver.EnvelopeRecord
		found, err := getMemo(s.memos.envelopes, tx.Bucket(bucketEnvelopes), id[:], &r)
		if err != nil {
			return err
		}
		if !found || len(r.Ciphertext) == 0 {
			p = bytes.Clone(v) // v lives only as long as the transaction
			return nil
		}
		ct := getCiphertext(tx, r.Ciphertext)
		if ct == nil {
			return fmt.Errorf("shared ciphertext %x missing", r.Ciphertext)
		}
		p = make([]byte, 0, len(v)+len(ct))
		p = append(append(p, v...), ct...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("payload %s: %w", id, err)
	}
	return p, nil
}
