//go:build js && wasm

package d1store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
)

func replyNext(r *keyserver.StoredReply) any {
	if !r.Pending() {
		return nil
	}
	return timeKey(r.NextAttempt)
}

func decodeReplies(rows []row) ([]keyserver.StoredReply, error) {
	out := make([]keyserver.StoredReply, len(rows))
	for i, r := range rows {
		if err := decode(r.str("data"), &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// PutReply stores a new reply with its audit events.
func (s *Store) PutReply(ctx context.Context, r keyserver.StoredReply, events []keyserver.AuditEvent) error {
	if r.ID == "" {
		return errors.New("put reply: no id")
	}
	return s.write(ctx, func(w *wtx) error {
		rows, err := w.query("SELECT id FROM replies WHERE id = ?", r.ID)
		if err != nil {
			return fmt.Errorf("put reply %s: %w", r.ID, err)
		}
		if len(rows) > 0 {
			return fmt.Errorf("put reply %s: %w", r.ID, keyserver.ErrConflict)
		}
		data, err := encode(r)
		if err != nil {
			return err
		}
		w.exec("INSERT INTO replies (id, envelope, created, next_attempt, data) VALUES (?, ?, ?, ?, ?)",
			r.ID, hx(r.Envelope[:]), timeKey(r.Created), replyNext(&r), data)
		return w.appendAudit(events)
	})
}

// DueReplies returns pending replies due at now, oldest first.
func (s *Store) DueReplies(ctx context.Context, now time.Time, limit int) ([]keyserver.StoredReply, error) {
	query := "SELECT data FROM replies WHERE next_attempt IS NOT NULL AND next_attempt <= ? ORDER BY created, id"
	if limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := s.query(ctx, query, timeKey(now))
	if err != nil {
		return nil, fmt.Errorf("due replies: %w", err)
	}
	return decodeReplies(rows)
}

// UpdateReply changes a reply with fn.
func (s *Store) UpdateReply(ctx context.Context, id string, fn func(*keyserver.StoredReply) ([]keyserver.AuditEvent, error)) (keyserver.StoredReply, error) {
	var out keyserver.StoredReply
	err := s.write(ctx, func(w *wtx) error {
		rows, err := w.query("SELECT data FROM replies WHERE id = ?", id)
		if err != nil {
			return fmt.Errorf("reply %s: %w", id, err)
		}
		if len(rows) == 0 {
			return fmt.Errorf("reply %s: %w", id, keyserver.ErrNotFound)
		}
		var old, r keyserver.StoredReply
		if err := decode(rows[0].str("data"), &old); err != nil {
			return err
		}
		_ = decode(rows[0].str("data"), &r)
		events, err := fn(&r)
		if err != nil {
			return err
		}
		if r.ID != old.ID || r.Envelope != old.Envelope || !r.Created.Equal(old.Created) {
			return fmt.Errorf("update reply %s: fn changed its id, envelope or creation time", id)
		}
		enc, err := encode(r)
		if err != nil {
			return err
		}
		w.exec("UPDATE replies SET next_attempt = ?, data = ? WHERE id = ?", replyNext(&r), enc, id)
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
	rows, err := s.query(ctx, "SELECT data FROM replies WHERE envelope = ? ORDER BY created, id", hx(env[:]))
	if err != nil {
		return nil, fmt.Errorf("replies of %s: %w", env, err)
	}
	return decodeReplies(rows)
}

// RepliesOfEnvelopes lists the replies of each of envs, without ciphertexts.
func (s *Store) RepliesOfEnvelopes(ctx context.Context, envs []envelope.ID) (map[envelope.ID][]keyserver.StoredReply, error) {
	out := map[envelope.ID][]keyserver.StoredReply{}
	for start := 0; start < len(envs); start += 90 {
		part := envs[start:min(start+90, len(envs))]
		args := make([]any, len(part))
		for i := range part {
			args[i] = hx(part[i][:])
		}
		rows, err := s.query(ctx, "SELECT data FROM replies WHERE envelope IN ("+placeholders(len(part))+") ORDER BY created, id", args...)
		if err != nil {
			return nil, fmt.Errorf("replies of %d envelopes: %w", len(envs), err)
		}
		rs, err := decodeReplies(rows)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			r.Sealed, r.LeaseHash = nil, nil
			out[r.Envelope] = append(out[r.Envelope], r)
		}
	}
	return out, nil
}

// DeleteRepliesOf removes an envelope's replies with the events.
func (s *Store) DeleteRepliesOf(ctx context.Context, env envelope.ID, events []keyserver.AuditEvent) (int, error) {
	n := 0
	err := s.write(ctx, func(w *wtx) error {
		rows, err := w.query("SELECT count(*) AS n FROM replies WHERE envelope = ?", hx(env[:]))
		if err != nil {
			return err
		}
		n = int(rows[0].int("n"))
		w.exec("DELETE FROM replies WHERE envelope = ?", hx(env[:]))
		return w.appendAudit(events)
	})
	if err != nil {
		return 0, fmt.Errorf("delete replies of %s: %w", env, err)
	}
	return n, nil
}

// StaleReplyEnvelopes lists envelopes with replies whose key is destroyed (the
// record's wrapped_key absent: it is omitted when empty) or whose row is gone,
// in one query over the replies joined to their envelopes, as sqlstore does.
func (s *Store) StaleReplyEnvelopes(ctx context.Context, limit int) ([]envelope.ID, error) {
	q := "SELECT DISTINCT r.envelope AS envelope FROM replies r LEFT JOIN envelopes e ON e.id = r.envelope " +
		"WHERE e.id IS NULL OR json_extract(e.data, '$.wrapped_key') IS NULL"
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := s.query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("stale reply envelopes: %w", err)
	}
	ids := make([]envelope.ID, 0, len(rows))
	for _, r := range rows {
		var id envelope.ID
		b := r.bytes("envelope")
		if len(b) != len(id) {
			return nil, fmt.Errorf("stale reply envelopes: envelope id of %d bytes", len(b))
		}
		ids = append(ids, envelope.ID(b))
	}
	return ids, nil
}
