package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/waxseal/waxseal/keyserver"
)

// EnqueueMail adds m to the outbox under the outbox bucket's next sequence
// number, which is its id; m.ID is ignored.
func (s *Store) EnqueueMail(ctx context.Context, m keyserver.OutboxMail) (uint64, error) {
	err := s.write(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		b.FillPercent = 1 // ids only grow
		id, err := b.NextSequence()
		if err != nil {
			return fmt.Errorf("enqueue mail: %w", err)
		}
		m.ID = id
		if err := putMail(tx, m); err != nil {
			return fmt.Errorf("enqueue mail %d: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return m.ID, nil
}

// putMail stores m and its due time, which DueMail scans without decoding mails
// (whole messages) that are not due.
func putMail(tx *bolt.Tx, m keyserver.OutboxMail) error {
	k := seqKey(m.ID)
	return errors.Join(
		put(tx.Bucket(bucketOutbox), k, m),
		tx.Bucket(bucketOutboxDue).Put(k, timeKey(m.NextAttempt)),
	)
}

// DueMail returns up to limit mails whose NextAttempt is not after now, in id
// (enqueue) order.
func (s *Store) DueMail(ctx context.Context, now time.Time, limit int) ([]keyserver.OutboxMail, error) {
	var out []keyserver.OutboxMail
	end := timeKey(now)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		mails := tx.Bucket(bucketOutbox)
		c := tx.Bucket(bucketOutboxDue).Cursor()
		for k, due := c.First(); k != nil && (limit <= 0 || len(out) < limit); k, due = c.Next() {
			if bytes.Compare(due, end) > 0 {
				continue
			}
			var m keyserver.OutboxMail
			found, err := get(mails, k, &m)
			if err == nil && !found {
				err = errors.New("in the due index but not the outbox")
			}
			if err != nil {
				return fmt.Errorf("mail %x: %w", k, err)
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("due mail: %w", err)
	}
	return out, nil
}

// UpdateMail replaces a mail; ErrNotFound if it was deleted meanwhile, so that a
// late update does not resend a delivered mail.
func (s *Store) UpdateMail(ctx context.Context, m keyserver.OutboxMail) error {
	return s.write(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketOutbox).Get(seqKey(m.ID)) == nil {
			return refusal{fmt.Errorf("update mail %d: %w", m.ID, keyserver.ErrNotFound)}
		}
		if err := putMail(tx, m); err != nil {
			return fmt.Errorf("update mail %d: %w", m.ID, err)
		}
		return nil
	})
}

// DeleteMail removes a mail, if it is still there.
func (s *Store) DeleteMail(ctx context.Context, id uint64) error {
	return s.write(ctx, func(tx *bolt.Tx) error {
		k := seqKey(id)
		if err := errors.Join(tx.Bucket(bucketOutbox).Delete(k), tx.Bucket(bucketOutboxDue).Delete(k),
			tx.Bucket(bucketOutboxLeases).Delete(k)); err != nil {
			return fmt.Errorf("delete mail %d: %w", id, err)
		}
		return nil
	})
}

// OutboxDepth counts the mails waiting, from the small due index.
func (s *Store) OutboxDepth(ctx context.Context) (int, error) {
	var n int
	err := s.view(ctx, func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketOutboxDue).Stats().KeyN
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("outbox depth: %w", err)
	}
	return n, nil
}
