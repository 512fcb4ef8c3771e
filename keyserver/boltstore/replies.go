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

// Replies: bucketReplies holds each StoredReply under its id; bucketRepliesDue
// indexes the pending ones by time(created) ‖ id → time(next attempt), which
// DueReplies scans without decoding replies (which hold up to 10 MiB each);
// bucketRepliesByEnv indexes every reply by envelope id ‖ reply id.

func replyDueKey(r *keyserver.StoredReply) []byte {
	return append(timeKey(r.Created), r.ID...)
}

func replyEnvKey(env envelope.ID, id string) []byte {
	return append(bytes.Clone(env[:]), id...)
}

// PutReply stores a new reply and its events.
func (s *Store) PutReply(ctx context.Context, r keyserver.StoredReply, events []keyserver.AuditEvent) error {
	return s.write(ctx, func(tx *bolt.Tx) error {
		if r.ID == "" {
			return refusal{errors.New("put reply: no id")}
		}
		if tx.Bucket(bucketReplies).Get([]byte(r.ID)) != nil {
			return refusal{fmt.Errorf("put reply %s: %w", r.ID, keyserver.ErrConflict)}
		}
		if err := errors.Join(s.writeReply(tx, nil, &r), tx.Bucket(bucketRepliesByEnv).Put(replyEnvKey(r.Envelope, r.ID), nil),
			s.appendAudit(tx, events)); err != nil {
			return fmt.Errorf("put reply %s: %w", r.ID, err)
		}
		return nil
	})
}

// writeReply stores r and keeps the due index in step with it (old is the
// record before the change, nil for a new one).
func (s *Store) writeReply(tx *bolt.Tx, old, r *keyserver.StoredReply) error {
	due := tx.Bucket(bucketRepliesDue)
	if old != nil && old.Pending() {
		if err := due.Delete(replyDueKey(old)); err != nil {
			return err
		}
	}
	if r.Pending() {
		if err := due.Put(replyDueKey(r), timeKey(r.NextAttempt)); err != nil {
			return err
		}
	}
	return put(tx.Bucket(bucketReplies), []byte(r.ID), r)
}

// DueReplies returns pending replies due at now, oldest first.
func (s *Store) DueReplies(ctx context.Context, now time.Time, limit int) ([]keyserver.StoredReply, error) {
	var out []keyserver.StoredReply
	end := timeKey(now)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		replies := tx.Bucket(bucketReplies)
		c := tx.Bucket(bucketRepliesDue).Cursor()
		for k, next := c.First(); k != nil && (limit <= 0 || len(out) < limit); k, next = c.Next() {
			if bytes.Compare(next, end) > 0 {
				continue
			}
			var r keyserver.StoredReply
			found, err := get(replies, k[timeLen:], &r)
			if err == nil && !found {
				err = errors.New("in the due index but not stored")
			}
			if err != nil {
				return fmt.Errorf("reply %s: %w", k[timeLen:], err)
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("due replies: %w", err)
	}
	return out, nil
}

// UpdateReply changes one reply with fn, in one transaction.
func (s *Store) UpdateReply(ctx context.Context, id string, fn func(*keyserver.StoredReply) ([]keyserver.AuditEvent, error)) (keyserver.StoredReply, error) {
	var out keyserver.StoredReply
	err := s.write(ctx, func(tx *bolt.Tx) error {
		var old, r keyserver.StoredReply
		b := tx.Bucket(bucketReplies)
		found, err := get(b, []byte(id), &old)
		if err != nil {
			return fmt.Errorf("reply %s: %w", id, err)
		}
		if !found {
			return refusal{fmt.Errorf("reply %s: %w", id, keyserver.ErrNotFound)}
		}
		if _, err := get(b, []byte(id), &r); err != nil {
			return fmt.Errorf("reply %s: %w", id, err)
		}
		events, err := fn(&r)
		if err != nil {
			return refusal{err}
		}
		if r.ID != old.ID || r.Envelope != old.Envelope || !r.Created.Equal(old.Created) {
			return refusal{fmt.Errorf("update reply %s: fn changed its id, envelope or creation time", id)}
		}
		if err := errors.Join(s.writeReply(tx, &old, &r), s.appendAudit(tx, events)); err != nil {
			return fmt.Errorf("update reply %s: %w", id, err)
		}
		out = r
		return nil
	})
	if err != nil {
		return keyserver.StoredReply{}, err
	}
	return out, nil
}

// RepliesOf lists an envelope's replies, oldest first.
func (s *Store) RepliesOf(ctx context.Context, env envelope.ID) ([]keyserver.StoredReply, error) {
	var out []keyserver.StoredReply
	err := s.view(ctx, func(tx *bolt.Tx) error {
		replies := tx.Bucket(bucketReplies)
		c := tx.Bucket(bucketRepliesByEnv).Cursor()
		for k, _ := c.Seek(env[:]); k != nil && bytes.HasPrefix(k, env[:]); k, _ = c.Next() {
			var r keyserver.StoredReply
			if _, err := get(replies, k[idLen:], &r); err != nil {
				return fmt.Errorf("reply %s: %w", k[idLen:], err)
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("replies of %s: %w", env, err)
	}
	sortReplies(out)
	return out, nil
}

// RepliesOfEnvelopes lists the replies of each of envs in one transaction,
// without their ciphertexts.
func (s *Store) RepliesOfEnvelopes(ctx context.Context, envs []envelope.ID) (map[envelope.ID][]keyserver.StoredReply, error) {
	out := map[envelope.ID][]keyserver.StoredReply{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		replies := tx.Bucket(bucketReplies)
		c := tx.Bucket(bucketRepliesByEnv).Cursor()
		for _, env := range envs {
			if _, done := out[env]; done {
				continue
			}
			var rs []keyserver.StoredReply
			for k, _ := c.Seek(env[:]); k != nil && bytes.HasPrefix(k, env[:]); k, _ = c.Next() {
				var r keyserver.StoredReply
				if _, err := get(replies, k[idLen:], &r); err != nil {
					return fmt.Errorf("reply %s: %w", k[idLen:], err)
				}
				r.Sealed, r.LeaseHash = nil, nil
				rs = append(rs, r)
			}
			if len(rs) > 0 {
				sortReplies(rs)
				out[env] = rs
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("replies of %d envelopes: %w", len(envs), err)
	}
	return out, nil
}

func sortReplies(rs []keyserver.StoredReply) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].Created.Before(rs[j-1].Created); j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

// DeleteRepliesOf removes an envelope's replies.
func (s *Store) DeleteRepliesOf(ctx context.Context, env envelope.ID, events []keyserver.AuditEvent) (int, error) {
	n := 0
	err := s.write(ctx, func(tx *bolt.Tx) error {
		n = 0
		replies, byEnv, due := tx.Bucket(bucketReplies), tx.Bucket(bucketRepliesByEnv), tx.Bucket(bucketRepliesDue)
		var keys [][]byte
		c := byEnv.Cursor()
		for k, _ := c.Seek(env[:]); k != nil && bytes.HasPrefix(k, env[:]); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			id := k[idLen:]
			var r keyserver.StoredReply
			found, err := get(replies, id, &r)
			if err != nil {
				return fmt.Errorf("reply %s: %w", id, err)
			}
			if found && r.Pending() {
				if err := due.Delete(replyDueKey(&r)); err != nil {
					return err
				}
			}
			if err := errors.Join(replies.Delete(id), byEnv.Delete(k)); err != nil {
				return err
			}
			n++
		}
		return s.appendAudit(tx, events)
	})
	if err != nil {
		return 0, fmt.Errorf("delete replies of %s: %w", env, err)
	}
	return n, nil
}

// StaleReplyEnvelopes lists envelopes with replies whose key is destroyed or
// whose record is gone: a scan of the by-envelope index, one envelope read per
// envelope with replies (replies are few beside envelopes).
func (s *Store) StaleReplyEnvelopes(ctx context.Context, limit int) ([]envelope.ID, error) {
	var out []envelope.ID
	err := s.view(ctx, func(tx *bolt.Tx) error {
		envs := tx.Bucket(bucketEnvelopes)
		c := tx.Bucket(bucketRepliesByEnv).Cursor()
		for k, _ := c.First(); k != nil && (limit <= 0 || len(out) < limit); {
			env := envelope.ID(k[:idLen])
			var rec keyserver.EnvelopeRecord
			found, err := getMemo(s.memos.envelopes, envs, env[:], &rec)
			if err != nil {
				return fmt.Errorf("envelope %s: %w", env, err)
			}
			if !found || len(rec.WrappedKey) == 0 {
				out = append(out, env)
			}
			// The next envelope's first reply: past every id under env.
			k, _ = c.Seek(append(bytes.Clone(env[:]), 0xff))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stale reply envelopes: %w", err)
	}
	return out, nil
}
