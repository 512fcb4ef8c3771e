//go:build js && wasm

package d1store

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/internal/sqltext"
)

func expiryKey(r *keyserver.EnvelopeRecord) any {
	if r.Expires.IsZero() || len(r.WrappedKey) == 0 {
		return nil
	}
	return timeKey(r.Expires)
}

func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return hx(b)
}

// PutEnvelopes registers envs, skipping those already registered with the same
// KeyCheck; one conflicting envelope refuses the whole batch.
func (s *Store) PutEnvelopes(ctx context.Context, envs []keyserver.NewEnvelope, events []keyserver.AuditEvent) error {
	large := map[envelope.ID][]byte{}
	for _, ne := range envs {
		if len(ne.Payload) > inlinePayload {
			large[ne.Record.ID] = ne.Payload
		}
	}
	inR2, err := s.putLargePayloads(ctx, large)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		seen := make(map[envelope.ID][]byte, len(envs))
		refs := map[string]int{}
		for _, ne := range envs {
			id := ne.Record.ID
			if ne.Record.HasPayload != (len(ne.Payload) > 0) {
				return fmt.Errorf("envelope %s: HasPayload is %t with a %d-byte payload", id, ne.Record.HasPayload, len(ne.Payload))
			}
			if len(ne.Record.Ciphertext) > 0 && !ne.Record.HasPayload {
				return fmt.Errorf("envelope %s: a shared ciphertext without a payload head", id)
			}
			check, ok := seen[id]
			if !ok {
				old, found, err := w.envelope(id)
				if err != nil {
					return err
				}
				check, ok = old.KeyCheck, found
			}
			if ok {
				if !bytes.Equal(check, ne.Record.KeyCheck) {
					return fmt.Errorf("envelope %s with another key: %w", id, keyserver.ErrConflict)
				}
				continue
			}
			seen[id] = ne.Record.KeyCheck
			r := &ne.Record
			if len(r.Ciphertext) > 0 {
				sum := hx(r.Ciphertext)
				if _, ok := refs[sum]; !ok {
					rows, err := w.query("SELECT refs FROM ciphertexts WHERE sum = ?", sum)
					if err != nil {
						return err
					}
					if len(rows) == 0 {
						return fmt.Errorf("envelope %s: ciphertext %s: %w", id, sum, keyserver.ErrNotFound)
					}
				}
				refs[sum]++
			}
			data, err := encode(r)
			if err != nil {
				return err
			}
			w.exec("INSERT INTO envelopes (id, sender, recipient, created, expiry, ciphertext, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
				hx(r.ID[:]), r.Sender, r.Recipient, timeKey(r.Created), expiryKey(r), nilIfEmpty(r.Ciphertext), data)
			if key, ok := inR2[r.ID]; ok && len(ne.Payload) > inlinePayload {
				w.exec("INSERT INTO payloads (id, data) VALUES (?, ?)", hx(r.ID[:]), r2Ref+key)
			} else if len(ne.Payload) > 0 {
				w.exec("INSERT INTO payloads (id, data) VALUES (?, ?)", hx(r.ID[:]), hx(ne.Payload))
			}
		}
		for sum, n := range refs {
			w.exec("UPDATE ciphertexts SET refs = refs + ? WHERE sum = ?", n, sum)
		}
		return w.appendAudit(events)
	})
}

func (w *wtx) envelope(id envelope.ID) (keyserver.EnvelopeRecord, bool, error) {
	var r keyserver.EnvelopeRecord
	rows, err := w.query("SELECT data FROM envelopes WHERE id = ?", hx(id[:]))
	if err != nil {
		return r, false, fmt.Errorf("envelope %s: %w", id, err)
	}
	if len(rows) == 0 {
		return r, false, nil
	}
	if err := decode(rows[0].str("data"), &r); err != nil {
		return r, false, fmt.Errorf("envelope %s: %w", id, err)
	}
	return r, true, nil
}

// Envelope returns one envelope.
func (s *Store) Envelope(ctx context.Context, id envelope.ID) (keyserver.EnvelopeRecord, error) {
	var r keyserver.EnvelopeRecord
	rows, err := s.query(ctx, "SELECT data FROM envelopes WHERE id = ?", hx(id[:]))
	if err == nil && len(rows) == 0 {
		err = keyserver.ErrNotFound
	}
	if err == nil {
		err = decode(rows[0].str("data"), &r)
	}
	if err != nil {
		return keyserver.EnvelopeRecord{}, fmt.Errorf("envelope %s: %w", id, err)
	}
	return r, nil
}

// ListEnvelopes returns envelopes matching q, newest first, then by id
// descending.
func (s *Store) ListEnvelopes(ctx context.Context, q keyserver.EnvelopeQuery) ([]keyserver.EnvelopeRecord, error) {
	query, args := sqltext.ListEnvelopes(q, func(b []byte) any { return hx(b) })
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list envelopes: %w", err)
	}
	out := make([]keyserver.EnvelopeRecord, len(rows))
	for i, r := range rows {
		if err := decode(r.str("data"), &out[i]); err != nil {
			return nil, fmt.Errorf("list envelopes: %w", err)
		}
	}
	return out, nil
}

// ExpiredEnvelopes lists envelopes past Expires whose keys still exist.
func (s *Store) ExpiredEnvelopes(ctx context.Context, now time.Time, limit int) ([]envelope.ID, error) {
	query := "SELECT id FROM envelopes WHERE expiry IS NOT NULL AND expiry < ? ORDER BY expiry, id"
	if limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := s.query(ctx, query, timeKey(now))
	if err != nil {
		return nil, fmt.Errorf("expired envelopes: %w", err)
	}
	var ids []envelope.ID
	for _, r := range rows {
		b := r.bytes("id")
		if len(b) != len(envelope.ID{}) {
			return nil, fmt.Errorf("expired envelopes: id of %d bytes", len(b))
		}
		ids = append(ids, envelope.ID(b))
	}
	return ids, nil
}

// Payload returns an envelope's online blob: its head from D1, and the shared
// ciphertext, if it references one, from R2.
func (s *Store) Payload(ctx context.Context, id envelope.ID) ([]byte, error) {
	rows, err := s.query(ctx, `SELECT p.data AS head, e.ciphertext AS sum FROM payloads p
		LEFT JOIN envelopes e ON e.id = p.id WHERE p.id = ?`, hx(id[:]))
	if err == nil && len(rows) == 0 {
		err = keyserver.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("payload %s: %w", id, err)
	}
	head, err := s.payloadHead(ctx, rows[0].str("head"))
	if err != nil {
		return nil, fmt.Errorf("payload %s: %w", id, err)
	}
	sum := rows[0].str("sum")
	if sum == "" {
		return head, nil
	}
	ct, err := s.object(ctx, sum)
	if err != nil {
		return nil, fmt.Errorf("payload %s: shared ciphertext %s: %w", id, sum, err)
	}
	return append(head, ct...), nil
}

// object reads an R2 object whole; ErrNotFound if there is none.
func (s *Store) object(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.r2Get(ctx, key)
}
