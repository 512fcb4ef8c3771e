package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/internal/sqltext"
)

// expiryKey is the envelope's expiry column: set only while it expires and its
// key exists, exactly the envelopes the sweeper has yet to visit.
func expiryKey(r *keyserver.EnvelopeRecord) any {
	if r.Expires.IsZero() || len(r.WrappedKey) == 0 {
		return nil
	}
	return timeKey(r.Expires)
}

func encode(v any) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode: %w", err)
	}
	return string(data), nil
}

func decode(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

// PutEnvelopes registers envs, skipping those already registered with the same
// KeyCheck; one conflicting envelope refuses the whole batch.
func (s *Store) PutEnvelopes(ctx context.Context, envs []keyserver.NewEnvelope, events []keyserver.AuditEvent) error {
	return s.write(ctx, func(w *wtx) error {
		fresh, err := newEnvelopes(w, envs)
		if err != nil {
			return err
		}
		for _, ne := range fresh {
			r := &ne.Record
			data, err := encode(r)
			if err != nil {
				return err
			}
			if _, err := w.exec("INSERT INTO envelopes (id, sender, recipient, created, expiry, ciphertext, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
				r.ID[:], r.Sender, r.Recipient, timeKey(r.Created), expiryKey(r), nilIfEmpty(r.Ciphertext), data); err != nil {
				return fmt.Errorf("put envelope %s: %w", r.ID, err)
			}
			delete(w.envs, r.ID) // read it from the table again
			if len(ne.Payload) > 0 {
				if _, err := w.exec("INSERT INTO payloads (id, data) VALUES (?, ?)", r.ID[:], ne.Payload); err != nil {
					return fmt.Errorf("put payload %s: %w", r.ID, err)
				}
			}
			if len(r.Ciphertext) > 0 {
				if err := addCiphertextRef(w, r.Ciphertext); err != nil {
					return fmt.Errorf("envelope %s: %w", r.ID, err)
				}
			}
		}
		if err := w.appendAudit(events); err != nil {
			return fmt.Errorf("put envelopes: %w", err)
		}
		return nil
	})
}

// newEnvelopes returns the envelopes of envs not yet stored, or a refusal: a
// conflict, a malformed envelope, an unknown shared ciphertext.
func newEnvelopes(w *wtx, envs []keyserver.NewEnvelope) ([]keyserver.NewEnvelope, error) {
	seen := make(map[envelope.ID][]byte, len(envs))
	var fresh []keyserver.NewEnvelope
	for _, ne := range envs {
		id := ne.Record.ID
		if ne.Record.HasPayload != (len(ne.Payload) > 0) {
			return nil, refusal{fmt.Errorf("envelope %s: HasPayload is %t with a %d-byte payload", id, ne.Record.HasPayload, len(ne.Payload))}
		}
		if len(ne.Record.Ciphertext) > 0 && !ne.Record.HasPayload {
			return nil, refusal{fmt.Errorf("envelope %s: a shared ciphertext without a payload head", id)}
		}
		check, ok := seen[id]
		if !ok {
			old, found, err := w.envelope(id)
			if err != nil {
				return nil, err
			}
			check, ok = old.KeyCheck, found
		}
		if ok {
			if !bytes.Equal(check, ne.Record.KeyCheck) {
				return nil, refusal{fmt.Errorf("envelope %s with another key: %w", id, keyserver.ErrConflict)}
			}
			continue
		}
		if len(ne.Record.Ciphertext) > 0 {
			var n int
			if err := w.queryRow("SELECT count(*) FROM ciphertexts WHERE sum = ?", ne.Record.Ciphertext).Scan(&n); err != nil {
				return nil, err
			}
			if n == 0 {
				return nil, refusal{fmt.Errorf("envelope %s: ciphertext %x: %w", id, ne.Record.Ciphertext, keyserver.ErrNotFound)}
			}
		}
		seen[id] = ne.Record.KeyCheck
		fresh = append(fresh, ne)
	}
	return fresh, nil
}

// envState is an envelope as a write transaction sees it: read once (locked,
// on PostgreSQL), then changed in memory by the group's updates, and written
// back by flushEnvelopes, so that a group of key releases costs one read and
// one write statement, not two per release.
type envState struct {
	data  []byte // the JSON record; nil: there is no such envelope
	dirty bool
	rec   keyserver.EnvelopeRecord // decoded data, for the columns at flush
}

// prefetchEnvelopes reads (and locks) the envelopes the group's updates are
// about, in one statement, in id order (so that two nodes' groups lock rows in
// the same order).
func (w *wtx) prefetchEnvelopes(ids []envelope.ID) error {
	if w.envs == nil {
		w.envs = map[envelope.ID]*envState{}
	}
	var args []any
	seen := map[envelope.ID]bool{}
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			args = append(args, id[:])
			w.envs[id] = &envState{}
		}
	}
	for len(args) > 0 {
		n := min(len(args), 500)
		rows, err := w.query("SELECT id, data FROM envelopes WHERE id IN (?"+strings.Repeat(", ?", n-1)+") ORDER BY id"+w.forUpdate(), args[:n]...)
		if err != nil {
			return fmt.Errorf("read envelopes: %w", err)
		}
		for rows.Next() {
			var id, data []byte
			if err := rows.Scan(&id, &data); err != nil {
				rows.Close()
				return err
			}
			if st := w.envs[envelope.ID(id)]; len(id) == len(envelope.ID{}) && st != nil {
				st.data = data
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("read envelopes: %w", err)
		}
		args = args[n:]
	}
	return nil
}

// envelope returns one envelope as the write transaction sees it.
func (w *wtx) envelope(id envelope.ID) (keyserver.EnvelopeRecord, bool, error) {
	var r keyserver.EnvelopeRecord
	st, ok := w.envs[id]
	if !ok {
		var data []byte
		err := w.queryRow("SELECT data FROM envelopes WHERE id = ?"+w.forUpdate(), id[:]).Scan(&data)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return r, false, fmt.Errorf("envelope %s: %w", id, err)
		}
		st = &envState{data: data}
		if w.envs == nil {
			w.envs = map[envelope.ID]*envState{}
		}
		w.envs[id] = st
	}
	if st.data == nil {
		return r, false, nil
	}
	if err := decode(st.data, &r); err != nil {
		return r, false, fmt.Errorf("envelope %s: %w", id, err)
	}
	return r, true, nil
}

// putEnvelope records an update of an existing envelope, for flushEnvelopes.
func (w *wtx) putEnvelope(r *keyserver.EnvelopeRecord) error {
	data, err := encode(r)
	if err != nil {
		return err
	}
	w.envs[r.ID] = &envState{data: []byte(data), dirty: true, rec: *r}
	return nil
}

// flushEnvelopes writes back the envelopes the group changed: on PostgreSQL in
// one statement per 500, on SQLite (in-process, no round trips) one each.
func (w *wtx) flushEnvelopes() error {
	var dirty []*envState
	for _, st := range w.envs {
		if st.dirty {
			dirty = append(dirty, st)
		}
	}
	if w.s.driver != Postgres {
		for _, st := range dirty {
			r := &st.rec
			if _, err := w.exec("UPDATE envelopes SET sender = ?, recipient = ?, created = ?, expiry = ?, data = ? WHERE id = ?",
				r.Sender, r.Recipient, timeKey(r.Created), expiryKey(r), string(st.data), r.ID[:]); err != nil {
				return fmt.Errorf("update envelope %s: %w", r.ID, err)
			}
		}
		return nil
	}
	for len(dirty) > 0 {
		n := min(len(dirty), 500)
		var args []any
		values := make([]string, n)
		for i, st := range dirty[:n] {
			r := &st.rec
			values[i] = "(?::bytea, ?::text, ?::text, ?::text, ?::text, ?::text)"
			args = append(args, r.ID[:], r.Sender, r.Recipient, timeKey(r.Created), expiryKey(r), string(st.data))
		}
		q := "UPDATE envelopes AS e SET sender = v.sender, recipient = v.recipient, created = v.created, expiry = v.expiry, data = v.data FROM (VALUES " +
			strings.Join(values, ", ") + ") AS v (id, sender, recipient, created, expiry, data) WHERE e.id = v.id"
		if _, err := w.exec(q, args...); err != nil {
			return fmt.Errorf("update envelopes: %w", err)
		}
		dirty = dirty[n:]
	}
	return nil
}

// Envelope returns one envelope.
func (s *Store) Envelope(ctx context.Context, id envelope.ID) (keyserver.EnvelopeRecord, error) {
	var r keyserver.EnvelopeRecord
	var data []byte
	err := s.queryRow(ctx, "SELECT data FROM envelopes WHERE id = ?", id[:]).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		err = keyserver.ErrNotFound
	}
	if err == nil {
		err = decode(data, &r)
	}
	if err != nil {
		return keyserver.EnvelopeRecord{}, fmt.Errorf("envelope %s: %w", id, err)
	}
	return r, nil
}

// UpdateEnvelope changes one envelope with fn: the key server's hot path, one
// row read, one written and the audit records, in a transaction shared with
// concurrent writes.
func (s *Store) UpdateEnvelope(ctx context.Context, id envelope.ID, fn func(*keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error)) (keyserver.EnvelopeRecord, error) {
	var out keyserver.EnvelopeRecord
	err := s.writeAbout(ctx, &id, func(w *wtx) error {
		r, found, err := w.envelope(id)
		if err != nil {
			return err
		}
		if !found {
			return refusal{fmt.Errorf("envelope %s: %w", id, keyserver.ErrNotFound)}
		}
		hadPayload := r.HasPayload
		ciphertext := bytes.Clone(r.Ciphertext)
		events, err := fn(&r)
		if err != nil {
			return refusal{err}
		}
		switch {
		case r.ID != id:
			return refusal{fmt.Errorf("update envelope %s: fn changed the id to %s", id, r.ID)}
		case r.HasPayload && !hadPayload:
			return refusal{fmt.Errorf("update envelope %s: fn set HasPayload, but there is no payload", id)}
		case !bytes.Equal(r.Ciphertext, ciphertext):
			return refusal{fmt.Errorf("update envelope %s: fn changed the shared ciphertext it references", id)}
		}
		if err := w.putEnvelope(&r); err != nil {
			return fmt.Errorf("update envelope %s: %w", id, err)
		}
		if hadPayload && !r.HasPayload {
			if _, err := w.exec("DELETE FROM payloads WHERE id = ?", id[:]); err != nil {
				return fmt.Errorf("update envelope %s: delete payload: %w", id, err)
			}
			if len(r.Ciphertext) > 0 {
				if err := dropCiphertextRef(w, r.Ciphertext); err != nil {
					return fmt.Errorf("update envelope %s: %w", id, err)
				}
			}
		}
		if err := w.appendAudit(events); err != nil {
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

// ListEnvelopes returns envelopes matching q, newest first (by Created, then id
// descending, as boltstore's index walk).
func (s *Store) ListEnvelopes(ctx context.Context, q keyserver.EnvelopeQuery) ([]keyserver.EnvelopeRecord, error) {
	query, args := sqltext.ListEnvelopes(q, func(b []byte) any { return b })
	out, err := collect(ctx, s, query, args, func(data []byte) (keyserver.EnvelopeRecord, error) {
		var r keyserver.EnvelopeRecord
		return r, decode(data, &r)
	})
	if err != nil {
		return nil, fmt.Errorf("list envelopes: %w", err)
	}
	return out, nil
}

// collect runs a query of one column and converts each row.
func collect[T any](ctx context.Context, s *Store, query string, args []any, conv func([]byte) (T, error)) ([]T, error) {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		v, err := conv(data)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ExpiredEnvelopes lists envelopes past Expires whose keys still exist, soonest
// expired first.
func (s *Store) ExpiredEnvelopes(ctx context.Context, now time.Time, limit int) ([]envelope.ID, error) {
	query := "SELECT id FROM envelopes WHERE expiry IS NOT NULL AND expiry < ? ORDER BY expiry, id"
	if limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", limit)
	}
	ids, err := collect(ctx, s, query, []any{timeKey(now)}, func(data []byte) (envelope.ID, error) {
		var id envelope.ID
		if len(data) != len(id) {
			return id, fmt.Errorf("envelope id of %d bytes", len(data))
		}
		return envelope.ID(data), nil
	})
	if err != nil {
		return nil, fmt.Errorf("expired envelopes: %w", err)
	}
	return ids, nil
}

// Payload returns an envelope's online blob, its head and the shared ciphertext
// read in one statement, so the two always belong together.
func (s *Store) Payload(ctx context.Context, id envelope.ID) ([]byte, error) {
	var head, ct []byte
	var sum []byte
	err := s.queryRow(ctx, `SELECT p.data, c.sum, c.data FROM payloads p
		LEFT JOIN envelopes e ON e.id = p.id
		LEFT JOIN ciphertexts c ON c.sum = e.ciphertext
		WHERE p.id = ?`, id[:]).Scan(&head, &sum, &ct)
	if errors.Is(err, sql.ErrNoRows) {
		err = keyserver.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("payload %s: %w", id, err)
	}
	if sum == nil {
		// No shared ciphertext joined: either the envelope references none, or
		// (a broken store) it references one that is gone.
		r, err := s.Envelope(ctx, id)
		if err == nil && len(r.Ciphertext) > 0 {
			return nil, fmt.Errorf("payload %s: shared ciphertext %x missing", id, r.Ciphertext)
		}
		return head, nil
	}
	return append(head, ct...), nil
}

func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
