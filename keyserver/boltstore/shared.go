package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/waxseal/waxseal/keyserver"
)

// The shared state of keyserver/shared.go. One process serves a bbolt file (its
// file lock refuses a second), so "shared" only means "outlives the process"
// here; the store keeps it all the same, so that the key server has one way of
// doing it, whatever its store.
var (
	bucketLimits       = []byte("limits")        // key → time(tat) (RateLimit.Take)
	bucketFailures     = []byte("failures")      // key → count (8 bytes) time(last failure)
	bucketOutboxLeases = []byte("outbox_leases") // seq(id) → time(lease end) token
)

func init() {
	allBuckets = append(allBuckets, bucketLimits, bucketFailures, bucketOutboxLeases)
}

func limitKey(key string) ([]byte, error) {
	if key == "" || len(key) > maxAddrLen {
		return nil, fmt.Errorf("limit key of %d bytes", len(key))
	}
	return []byte(key), nil
}

// TakeToken takes a token from the bucket under key.
func (s *Store) TakeToken(ctx context.Context, key string, rate keyserver.RateLimit, now time.Time) (bool, time.Duration, error) {
	if rate.Burst <= 0 || rate.Every <= 0 {
		return true, 0, ctx.Err()
	}
	k, err := limitKey(key)
	if err != nil {
		return false, 0, err
	}
	var ok bool
	var wait time.Duration
	err = s.write(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLimits)
		var tat time.Time
		if v := b.Get(k); len(v) == timeLen {
			tat = keyTime(v)
		}
		var next time.Time
		next, ok, wait = rate.Take(tat, now)
		if !ok {
			return nil
		}
		return b.Put(k, timeKey(next))
	})
	if err != nil {
		return false, 0, fmt.Errorf("take token: %w", err)
	}
	return ok, wait, nil
}

// TokenAvailable reports whether TakeToken would succeed.
func (s *Store) TokenAvailable(ctx context.Context, key string, rate keyserver.RateLimit, now time.Time) (bool, error) {
	k, err := limitKey(key)
	if err != nil {
		return false, err
	}
	var ok bool
	err = s.view(ctx, func(tx *bolt.Tx) error {
		var tat time.Time
		if v := tx.Bucket(bucketLimits).Get(k); len(v) == timeLen {
			tat = keyTime(v)
		}
		ok = rate.Available(tat, now)
		return nil
	})
	return ok, err
}

// AddFailure counts a failure under key.
func (s *Store) AddFailure(ctx context.Context, key string, now time.Time) (int, error) {
	k, err := limitKey(key)
	if err != nil {
		return 0, err
	}
	var n uint64
	err = s.write(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketFailures)
		n = 0
		if v := b.Get(k); len(v) == 8+timeLen {
			n = binary.BigEndian.Uint64(v)
		}
		n++
		return b.Put(k, append(binary.BigEndian.AppendUint64(nil, n), timeKey(now)...))
	})
	if err != nil {
		return 0, fmt.Errorf("add failure: %w", err)
	}
	return int(n), nil
}

// Failures returns key's failure count and last failure.
func (s *Store) Failures(ctx context.Context, key string) (int, time.Time, error) {
	k, err := limitKey(key)
	if err != nil {
		return 0, time.Time{}, err
	}
	var n int
	var last time.Time
	err = s.view(ctx, func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketFailures).Get(k); len(v) == 8+timeLen {
			n, last = int(binary.BigEndian.Uint64(v)), keyTime(v[8:])
		}
		return nil
	})
	return n, last, err
}

// ResetFailures forgets key's failures.
func (s *Store) ResetFailures(ctx context.Context, key string) error {
	k, err := limitKey(key)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketFailures)
		if b.Get(k) == nil {
			return nil
		}
		return b.Delete(k)
	})
}

// DeleteIdleLimits forgets full buckets and old failure counts.
func (s *Store) DeleteIdleLimits(ctx context.Context, now, failuresBefore time.Time) (int, error) {
	var n int
	err := s.write(ctx, func(tx *bolt.Tx) error {
		n = 0
		var gone [][]byte
		limits := tx.Bucket(bucketLimits)
		end := timeKey(now)
		limits.ForEach(func(k, v []byte) error {
			if bytes.Compare(v, end) <= 0 {
				gone = append(gone, bytes.Clone(k))
			}
			return nil
		})
		for _, k := range gone {
			if err := limits.Delete(k); err != nil {
				return err
			}
		}
		n += len(gone)
		gone = gone[:0]
		failures := tx.Bucket(bucketFailures)
		before := timeKey(failuresBefore)
		failures.ForEach(func(k, v []byte) error {
			if len(v) != 8+timeLen || bytes.Compare(v[8:], before) < 0 {
				gone = append(gone, bytes.Clone(k))
			}
			return nil
		})
		for _, k := range gone {
			if err := failures.Delete(k); err != nil {
				return err
			}
		}
		n += len(gone)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete idle limits: %w", err)
	}
	return n, nil
}

// PutCeremonyCapped stores c unless max unexpired ceremonies are stored. The
// usual call counts keys only; ceremonies are decoded, to leave the expired
// ones uncounted, only when there are max or more of them.
func (s *Store) PutCeremonyCapped(ctx context.Context, c keyserver.Ceremony, max int, now time.Time) error {
	return s.write(ctx, func(tx *bolt.Tx) error {
		if c.ID == "" || len(c.ID) > maxAddrLen {
			return refusal{errors.New("put ceremony: no id")}
		}
		b := tx.Bucket(bucketCeremonies)
		n := 0
		cur := b.Cursor()
		for k, _ := cur.First(); k != nil && n < max; k, _ = cur.Next() {
			n++
		}
		if n >= max {
			live := 0
			err := b.ForEach(func(k, v []byte) error {
				var old keyserver.Ceremony
				if err := decode(k, v, &old); err != nil {
					return err
				}
				if old.Expires.After(now) {
					live++
				}
				return nil
			})
			if err != nil {
				return err
			}
			if live >= max {
				return refusal{keyserver.ErrCapReached}
			}
		}
		if err := put(b, []byte(c.ID), c); err != nil {
			return fmt.Errorf("put ceremony: %w", err)
		}
		return nil
	})
}

// LeaseMail leases due mails under token until until.
func (s *Store) LeaseMail(ctx context.Context, now, until time.Time, token string, limit int) ([]keyserver.OutboxMail, error) {
	if token == "" {
		return nil, errors.New("lease mail: no token")
	}
	var out []keyserver.OutboxMail
	end := timeKey(now)
	err := s.write(ctx, func(tx *bolt.Tx) error {
		out = out[:0]
		mails := tx.Bucket(bucketOutbox)
		leases := tx.Bucket(bucketOutboxLeases)
		c := tx.Bucket(bucketOutboxDue).Cursor()
		var keys [][]byte
		for k, due := c.First(); k != nil && (limit <= 0 || len(keys) < limit); k, due = c.Next() {
			if bytes.Compare(due, end) <= 0 {
				keys = append(keys, bytes.Clone(k))
			}
		}
		for _, k := range keys {
			var m keyserver.OutboxMail
			found, err := get(mails, k, &m)
			if err == nil && !found {
				err = errors.New("in the due index but not the outbox")
			}
			if err != nil {
				return fmt.Errorf("mail %x: %w", k, err)
			}
			out = append(out, m)
			leased := m
			leased.NextAttempt = until
			if err := errors.Join(putMail(tx, leased), leases.Put(k, append(timeKey(until), token...))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lease mail: %w", err)
	}
	return out, nil
}

// heldLease is a refusal wrapping ErrNotFound unless mail k is leased under
// token and the lease has not ended at now.
func heldLease(tx *bolt.Tx, k []byte, token string, now time.Time) error {
	v := tx.Bucket(bucketOutboxLeases).Get(k)
	if len(v) <= timeLen || string(v[timeLen:]) != token || now.After(keyTime(v[:timeLen])) ||
		tx.Bucket(bucketOutbox).Get(k) == nil {
		return refusal{keyserver.ErrNotFound}
	}
	return nil
}

// DeleteLeasedMail deletes a mail leased under token.
func (s *Store) DeleteLeasedMail(ctx context.Context, id uint64, token string, now time.Time) error {
	k := seqKey(id)
	err := s.write(ctx, func(tx *bolt.Tx) error {
		if err := heldLease(tx, k, token, now); err != nil {
			return err
		}
		return errors.Join(tx.Bucket(bucketOutbox).Delete(k), tx.Bucket(bucketOutboxDue).Delete(k),
			tx.Bucket(bucketOutboxLeases).Delete(k))
	})
	if err != nil {
		return fmt.Errorf("delete leased mail %d: %w", id, err)
	}
	return nil
}

// RetryLeasedMail records a failed attempt at a mail leased under token.
func (s *Store) RetryLeasedMail(ctx context.Context, id uint64, token string, now time.Time, attempts int, next time.Time, lastError string) error {
	k := seqKey(id)
	err := s.write(ctx, func(tx *bolt.Tx) error {
		if err := heldLease(tx, k, token, now); err != nil {
			return err
		}
		var m keyserver.OutboxMail
		if _, err := get(tx.Bucket(bucketOutbox), k, &m); err != nil {
			return err
		}
		m.Attempts = max(attempts, m.Attempts)
		m.NextAttempt = next
		m.LastError = lastError
		return errors.Join(putMail(tx, m), tx.Bucket(bucketOutboxLeases).Delete(k))
	})
	if err != nil {
		return fmt.Errorf("retry leased mail %d: %w", id, err)
	}
	return nil
}

// TryLead takes the lead of this process: the file lock keeps every other
// process off the database.
func (s *Store) TryLead(ctx context.Context) (keyserver.Leadership, bool, error) {
	return s.lead.TryLead(ctx)
}

var _ keyserver.ThreadHashLister = (*Store)(nil)

// ThreadHashes lists the stored thread hashes.
func (s *Store) ThreadHashes(ctx context.Context, fn func(hash []byte, expires time.Time) error) error {
	return s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketThreads).ForEach(func(k, v []byte) error {
			if len(v) != timeLen {
				return fmt.Errorf("thread hash %x: bad expiry", k)
			}
			return fn(bytes.Clone(k), keyTime(v))
		})
	})
}
