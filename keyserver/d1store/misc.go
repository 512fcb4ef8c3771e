//go:build js && wasm

package d1store

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/waxseal/waxseal/internal/d1batch"
	"github.com/waxseal/waxseal/keyserver"
)

// EnqueueMail adds mail to the outbox. Its id comes from the head row's
// counter, which the write version guards (a batch cannot return an id to
// the statements after it).
func (s *Store) EnqueueMail(ctx context.Context, m keyserver.OutboxMail) (uint64, error) {
	err := s.write(ctx, func(w *wtx) error {
		m.ID = uint64(w.nextMail)
		w.nextMail++
		w.mailUsed = true
		data, err := encode(m)
		if err != nil {
			return err
		}
		w.exec("INSERT INTO outbox (id, next_attempt, data) VALUES (?, ?, ?)", int64(m.ID), timeKey(m.NextAttempt), data)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("enqueue mail: %w", err)
	}
	return m.ID, nil
}

func decodeMails(rows []row) ([]keyserver.OutboxMail, error) {
	out := make([]keyserver.OutboxMail, len(rows))
	for i, r := range rows {
		if err := decode(r.str("data"), &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// DueMail returns mail due at now, in enqueue order.
func (s *Store) DueMail(ctx context.Context, now time.Time, limit int) ([]keyserver.OutboxMail, error) {
	query := "SELECT data FROM outbox WHERE next_attempt <= ? ORDER BY id"
	if limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := s.query(ctx, query, timeKey(now))
	if err != nil {
		return nil, fmt.Errorf("due mail: %w", err)
	}
	return decodeMails(rows)
}

// UpdateMail replaces an outbox mail.
func (s *Store) UpdateMail(ctx context.Context, m keyserver.OutboxMail) error {
	return s.write(ctx, func(w *wtx) error {
		if m.ID > math.MaxInt32*1024 {
			return fmt.Errorf("update mail %d: %w", m.ID, keyserver.ErrNotFound)
		}
		rows, err := w.query("SELECT id FROM outbox WHERE id = ?", int64(m.ID))
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return fmt.Errorf("update mail %d: %w", m.ID, keyserver.ErrNotFound)
		}
		data, err := encode(m)
		if err != nil {
			return err
		}
		w.exec("UPDATE outbox SET next_attempt = ?, data = ? WHERE id = ?", timeKey(m.NextAttempt), data, int64(m.ID))
		return nil
	})
}

// DeleteMail removes a mail.
func (s *Store) DeleteMail(ctx context.Context, id uint64) error {
	if id > math.MaxInt32*1024 {
		return ctx.Err()
	}
	return s.write(ctx, func(w *wtx) error {
		w.exec("DELETE FROM outbox WHERE id = ?", int64(id))
		return nil
	})
}

// OutboxDepth counts the mails waiting.
func (s *Store) OutboxDepth(ctx context.Context) (int, error) {
	rows, err := s.query(ctx, "SELECT count(*) AS n FROM outbox")
	if err != nil {
		return 0, fmt.Errorf("outbox depth: %w", err)
	}
	return int(rows[0].int("n")), nil
}

// AppendAudit appends events that belong to no other change.
func (s *Store) AppendAudit(ctx context.Context, events []keyserver.AuditEvent) error {
	if len(events) == 0 {
		return ctx.Err()
	}
	if err := s.write(ctx, func(w *wtx) error { return w.appendAudit(events) }); err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	return nil
}

const auditChunk = 256

// Audit calls fn for each record from seq from onwards, a chunk per query.
func (s *Store) Audit(ctx context.Context, from uint64, fn func(keyserver.AuditRecord) (bool, error)) error {
	if from > 1<<53 {
		return ctx.Err()
	}
	for {
		rows, err := s.query(ctx, fmt.Sprintf("SELECT data FROM audit WHERE seq >= ? ORDER BY seq LIMIT %d", auditChunk), int64(from))
		if err != nil {
			return fmt.Errorf("read audit from %d: %w", from, err)
		}
		for _, r := range rows {
			var rec keyserver.AuditRecord
			if err := decode(r.str("data"), &rec); err != nil {
				return fmt.Errorf("read audit: %w", err)
			}
			more, err := fn(rec)
			if err != nil || !more {
				return err
			}
			from = rec.Seq + 1
		}
		if len(rows) < auditChunk {
			return nil
		}
	}
}

// PutThreadHashes stores hashes, keeping the later expiry of one stored again.
func (s *Store) PutThreadHashes(ctx context.Context, hashes [][]byte, expires time.Time) error {
	for _, h := range hashes {
		if len(h) == 0 {
			return fmt.Errorf("put thread hash: empty hash")
		}
	}
	err := s.write(ctx, func(w *wtx) error {
		exp := timeKey(expires)
		for _, h := range hashes {
			w.exec(`INSERT INTO thread_hashes (hash, expires) VALUES (?, ?)
				ON CONFLICT (hash) DO UPDATE SET expires = excluded.expires WHERE thread_hashes.expires < excluded.expires`, hx(h), exp)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put thread hash: %w", err)
	}
	return nil
}

// ThreadHashKnown reports whether any of hashes is stored unexpired.
func (s *Store) ThreadHashKnown(ctx context.Context, hashes [][]byte, now time.Time) (bool, error) {
	if len(hashes) == 0 {
		return false, ctx.Err()
	}
	for len(hashes) > 0 {
		n := min(len(hashes), 90) // D1 binds at most 100 parameters
		args := []any{timeKey(now)}
		for _, h := range hashes[:n] {
			args = append(args, hx(h))
		}
		rows, err := s.query(ctx, "SELECT count(*) AS n FROM thread_hashes WHERE expires > ? AND hash IN ("+placeholders(n)+")", args...)
		if err != nil {
			return false, fmt.Errorf("thread hash: %w", err)
		}
		if rows[0].int("n") > 0 {
			return true, nil
		}
		hashes = hashes[n:]
	}
	return false, nil
}

// DeleteThreadHashesBefore removes hashes expired at or before t.
func (s *Store) DeleteThreadHashesBefore(ctx context.Context, t time.Time) (int, error) {
	n := 0
	err := s.write(ctx, func(w *wtx) error {
		rows, err := w.query("SELECT count(*) AS n FROM thread_hashes WHERE expires <= ?", timeKey(t))
		if err != nil {
			return err
		}
		n = int(rows[0].int("n"))
		if n > 0 {
			w.exec("DELETE FROM thread_hashes WHERE expires <= ?", timeKey(t))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete thread hashes: %w", err)
	}
	return n, nil
}

// SessionAccount returns a session and its account in one read; with a
// context from WithEnvelopeRead, the same batch reads that envelope and the
// write version too (prefetch.go).
func (s *Store) SessionAccount(ctx context.Context, tokenHash []byte) (keyserver.Session, *keyserver.Account, error) {
	if err := ctx.Err(); err != nil {
		return keyserver.Session{}, nil, err
	}
	stmts := []stmt{{SQL: `SELECT sessions.data AS s, accounts.data AS a FROM sessions
		LEFT JOIN accounts ON accounts.id = sessions.account_id WHERE sessions.token_hash = ?`, Args: []any{hx(tokenHash)}}}
	pre := envelopeReadFrom(ctx)
	if pre != nil {
		stmts = append(stmts, stmt{SQL: "SELECT data FROM envelopes WHERE id = ?", Args: []any{hx(pre.id[:])}},
			stmt{SQL: "SELECT ver, seq, hash, next_mail FROM audit_head WHERE id = 1"})
	}
	res, err := d1batch.Batch(ctx, s.db, stmts)
	var rows []row
	if err == nil {
		for _, r := range res[0].Rows {
			rows = append(rows, r)
		}
		if pre != nil && len(res[2].Rows) == 1 {
			hr := row(res[2].Rows[0])
			h := head{known: true, ver: hr.int("ver"), seq: hr.int("seq"), hash: hr.bytes("hash"), nextMail: hr.int("next_mail")}
			if len(res[1].Rows) == 1 {
				pre.set(true, row(res[1].Rows[0]).str("data"), h)
			} else {
				pre.set(false, "", h)
			}
		}
	}
	if err == nil && len(rows) == 0 {
		err = keyserver.ErrNotFound
	}
	var sess keyserver.Session
	if err == nil {
		err = decode(rows[0].str("s"), &sess)
	}
	if err != nil {
		return keyserver.Session{}, nil, fmt.Errorf("session: %w", err)
	}
	if rows[0]["a"] == nil {
		return sess, nil, nil
	}
	var a keyserver.Account
	if err := decode(rows[0].str("a"), &a); err != nil {
		return keyserver.Session{}, nil, fmt.Errorf("session account: %w", err)
	}
	return sess, &a, nil
}
