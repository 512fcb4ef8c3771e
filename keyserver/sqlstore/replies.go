package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
)

// Replies (keyserver.ReplyStore): one row each, the record as JSON beside the
// columns queries use; next_attempt is NULL once a reply is no longer pending.

func replyNext(r *keyserver.StoredReply) any {
	if !r.Pending() {
		return nil
	}
	return timeKey(r.NextAttempt)
}

// PutReply stores a new reply and its events.
func (s *Store) PutReply(ctx context.Context, r keyserver.StoredReply, events []keyserver.AuditEvent) error {
	if r.ID == "" {
		return errors.New("put reply: no id")
	}
	return s.write(ctx, func(w *wtx) error {
		var n int
		if err := w.queryRow("SELECT count(*) FROM replies WHERE id = ?", r.ID).Scan(&n); err != nil {
			return fmt.Errorf("put reply %s: %w", r.ID, err)
		}
		if n > 0 {
			return refusal{fmt.Errorf("put reply %s: %w", r.ID, keyserver.ErrConflict)}
		}
		data, err := encode(r)
		if err != nil {
			return err
		}
		if _, err := w.exec("INSERT INTO replies (id, envelope, created, next_attempt, data) VALUES (?, ?, ?, ?, ?)",
			r.ID, r.Envelope[:], timeKey(r.Created), replyNext(&r), data); err != nil {
			return fmt.Errorf("put reply %s: %w", r.ID, err)
		}
		return w.appendAudit(events)
	})
}

// DueReplies returns pending replies due at now, oldest first.
func (s *Store) DueReplies(ctx context.Context, now time.Time, limit int) ([]keyserver.StoredReply, error) {
	query := "SELECT data FROM replies WHERE next_attempt IS NOT NULL AND next_attempt <= ? ORDER BY created, id"
	if limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", limit)
	}
	out, err := collect(ctx, s, query, []any{timeKey(now)}, decodeReply)
	if err != nil {
		return nil, fmt.Errorf("due replies: %w", err)
	}
	return out, nil
}

func decodeReply(data []byte) (keyserver.StoredReply, error) {
	var r keyserver.StoredReply
	return r, decode(data, &r)
}

// UpdateReply changes one reply with fn, in one transaction.
func (s *Store) UpdateReply(ctx context.Context, id string, fn func(*keyserver.StoredReply) ([]keyserver.AuditEvent, error)) (keyserver.StoredReply, error) {
	var out keyserver.StoredReply
	err := s.write(ctx, func(w *wtx) error {
		var data []byte
		err := w.queryRow("SELECT data FROM replies WHERE id = ?"+w.forUpdate(), id).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			return refusal{fmt.Errorf("reply %s: %w", id, keyserver.ErrNotFound)}
		}
		if err != nil {
			return fmt.Errorf("reply %s: %w", id, err)
		}
		old, err := decodeReply(data)
		if err != nil {
			return fmt.Errorf("reply %s: %w", id, err)
		}
		r, _ := decodeReply(data)
		events, err := fn(&r)
		if err != nil {
			return refusal{err}
		}
		if r.ID != old.ID || r.Envelope != old.Envelope || !r.Created.Equal(old.Created) {
			return refusal{fmt.Errorf("update reply %s: fn changed its id, envelope or creation time", id)}
		}
		enc, err := encode(r)
		if err != nil {
			return err
		}
		if _, err := w.exec("UPDATE replies SET next_attempt = ?, data = ? WHERE id = ?", replyNext(&r), enc, id); err != nil {
			return fmt.Errorf("update reply %s: %w", id, err)
		}
		if err := w.appendAudit(events); err != nil {
			return err
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
	out, err := collect(ctx, s, "SELECT data FROM replies WHERE envelope = ? ORDER BY created, id", []any{env[:]}, decodeReply)
	if err != nil {
		return nil, fmt.Errorf("replies of %s: %w", env, err)
	}
	return out, nil
}

// RepliesOfEnvelopes lists the replies of each of envs in one query (per 500
// envelopes), without their ciphertexts.
func (s *Store) RepliesOfEnvelopes(ctx context.Context, envs []envelope.ID) (map[envelope.ID][]keyserver.StoredReply, error) {
	out := map[envelope.ID][]keyserver.StoredReply{}
	for start := 0; start < len(envs); start += 500 {
		batch := envs[start:min(start+500, len(envs))]
		args := make([]any, len(batch))
		for i := range batch {
			args[i] = batch[i][:]
		}
		query := "SELECT data FROM replies WHERE envelope IN (?" + strings.Repeat(", ?", len(batch)-1) + ") ORDER BY created, id"
		rs, err := collect(ctx, s, query, args, func(data []byte) (keyserver.StoredReply, error) {
			r, err := decodeReply(data)
			r.Sealed, r.LeaseHash = nil, nil
			return r, err
		})
		if err != nil {
			return nil, fmt.Errorf("replies of %d envelopes: %w", len(envs), err)
		}
		for _, r := range rs {
			out[r.Envelope] = append(out[r.Envelope], r)
		}
	}
	return out, nil
}

// DeleteRepliesOf removes an envelope's replies.
func (s *Store) DeleteRepliesOf(ctx context.Context, env envelope.ID, events []keyserver.AuditEvent) (int, error) {
	n := 0
	err := s.write(ctx, func(w *wtx) error {
		res, err := w.exec("DELETE FROM replies WHERE envelope = ?", env[:])
		if err != nil {
			return err
		}
		k, err := res.RowsAffected()
		if err != nil {
			return err
		}
		n = int(k)
		return w.appendAudit(events)
	})
	if err != nil {
		return 0, fmt.Errorf("delete replies of %s: %w", env, err)
	}
	return n, nil
}

// StaleReplyEnvelopes lists envelopes with replies whose key is destroyed (the
// record's wrapped_key absent: it is omitted when empty) or whose row is gone,
// in one query over the replies joined to their envelopes.
func (s *Store) StaleReplyEnvelopes(ctx context.Context, limit int) ([]envelope.ID, error) {
	noKey := "json_extract(e.data, '$.wrapped_key') IS NULL"
	if s.driver == Postgres {
		noKey = "(e.data::json ->> 'wrapped_key') IS NULL"
	}
	query := "SELECT DISTINCT r.envelope FROM replies r LEFT JOIN envelopes e ON e.id = r.envelope WHERE e.id IS NULL OR " + noKey
	if limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", limit)
	}
	ids, err := collect(ctx, s, query, nil, func(data []byte) (envelope.ID, error) {
		var id envelope.ID
		if len(data) != len(id) {
			return id, fmt.Errorf("envelope id of %d bytes", len(data))
		}
		return envelope.ID(data), nil
	})
	if err != nil {
		return nil, fmt.Errorf("stale reply envelopes: %w", err)
	}
	return ids, nil
}
