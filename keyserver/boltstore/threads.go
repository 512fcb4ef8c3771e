package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// PutThreadHashes stores hashes until expires, keeping a later expiry.
func (s *Store) PutThreadHashes(ctx context.Context, hashes [][]byte, expires time.Time) error {
	return s.write(ctx, func(tx *bolt.Tx) error {
		b, byExp := tx.Bucket(bucketThreads), tx.Bucket(bucketThreadByExpiry)
		exp := timeKey(expires)
		for _, h := range hashes {
			if len(h) == 0 {
				return refusal{fmt.Errorf("put thread hash: empty hash")}
			}
			if old := b.Get(h); old != nil {
				if bytes.Compare(old, exp) >= 0 {
					continue
				}
				if err := byExp.Delete(append(append([]byte(nil), old...), h...)); err != nil {
					return fmt.Errorf("put thread hash: %w", err)
				}
			}
			if err := b.Put(h, exp); err != nil {
				return fmt.Errorf("put thread hash: %w", err)
			}
			if err := byExp.Put(append(append([]byte(nil), exp...), h...), nil); err != nil {
				return fmt.Errorf("put thread hash: %w", err)
			}
		}
		return nil
	})
}

// ThreadHashKnown reports whether any hash is stored and not yet expired.
func (s *Store) ThreadHashKnown(ctx context.Context, hashes [][]byte, now time.Time) (bool, error) {
	found := false
	nowKey := timeKey(now)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketThreads)
		for _, h := range hashes {
			if exp := b.Get(h); exp != nil && bytes.Compare(exp, nowKey) > 0 {
				found = true
				return nil
			}
		}
		return nil
	})
	return found, err
}

// DeleteThreadHashesBefore removes hashes that expired at or before t.
func (s *Store) DeleteThreadHashesBefore(ctx context.Context, t time.Time) (int, error) {
	n := 0
	limit := timeKey(t)
	err := s.write(ctx, func(tx *bolt.Tx) error {
		n = 0
		b, byExp := tx.Bucket(bucketThreads), tx.Bucket(bucketThreadByExpiry)
		var gone [][]byte
		c := byExp.Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k[:timeLen], limit) <= 0; k, _ = c.Next() {
			gone = append(gone, append([]byte(nil), k...))
		}
		for _, k := range gone {
			if err := byExp.Delete(k); err != nil {
				return fmt.Errorf("delete thread hash: %w", err)
			}
			if err := b.Delete(k[timeLen:]); err != nil {
				return fmt.Errorf("delete thread hash: %w", err)
			}
			n++
		}
		return nil
	})
	return n, err
}
