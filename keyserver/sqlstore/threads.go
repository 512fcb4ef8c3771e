package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// PutThreadHashes stores hashes until expires, keeping a later expiry.
func (s *Store) PutThreadHashes(ctx context.Context, hashes [][]byte, expires time.Time) error {
	for _, h := range hashes {
		if len(h) == 0 {
			return fmt.Errorf("put thread hash: empty hash")
		}
	}
	err := s.write(ctx, func(w *wtx) error {
		exp := timeKey(expires)
		for _, h := range hashes {
			if _, err := w.exec(`INSERT INTO thread_hashes (hash, expires) VALUES (?, ?)
				ON CONFLICT (hash) DO UPDATE SET expires = excluded.expires WHERE thread_hashes.expires < excluded.expires`, h, exp); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put thread hash: %w", err)
	}
	return nil
}

// ThreadHashKnown reports whether any hash is stored and not yet expired.
func (s *Store) ThreadHashKnown(ctx context.Context, hashes [][]byte, now time.Time) (bool, error) {
	if len(hashes) == 0 {
		return false, ctx.Err()
	}
	for len(hashes) > 0 {
		n := min(len(hashes), 500)
		args := []any{timeKey(now)}
		for _, h := range hashes[:n] {
			args = append(args, h)
		}
		var found int
		err := s.queryRow(ctx, "SELECT count(*) FROM thread_hashes WHERE expires > ? AND hash IN (?"+strings.Repeat(", ?", n-1)+")", args...).Scan(&found)
		if err != nil {
			return false, fmt.Errorf("thread hash: %w", err)
		}
		if found > 0 {
			return true, nil
		}
		hashes = hashes[n:]
	}
	return false, nil
}

// DeleteThreadHashesBefore removes hashes that expired at or before t.
func (s *Store) DeleteThreadHashesBefore(ctx context.Context, t time.Time) (int, error) {
	n := 0
	err := s.write(ctx, func(w *wtx) error {
		res, err := w.exec("DELETE FROM thread_hashes WHERE expires <= ?", timeKey(t))
		if err != nil {
			return err
		}
		m, err := res.RowsAffected()
		n = int(m)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete thread hashes: %w", err)
	}
	return n, nil
}
