package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// EnqueueMail adds m to the outbox; its id comes from the table's identity
// (never reused: SQLite's AUTOINCREMENT, PostgreSQL's sequence).
func (s *Store) EnqueueMail(ctx context.Context, m keyserver.OutboxMail) (uint64, error) {
	err := s.write(ctx, func(w *wtx) error {
		var id int64
		// The id goes into the record too, so insert, then write the record.
		if err := w.queryRow("INSERT INTO outbox (next_attempt, data) VALUES (?, '') RETURNING id", timeKey(m.NextAttempt)).Scan(&id); err != nil {
			return fmt.Errorf("enqueue mail: %w", err)
		}
		m.ID = uint64(id)
		data, err := encode(m)
		if err != nil {
			return err
		}
		if _, err := w.exec("UPDATE outbox SET data = ? WHERE id = ?", data, id); err != nil {
			return fmt.Errorf("enqueue mail %d: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return m.ID, nil
}

// DueMail returns up to limit mails whose NextAttempt is not after now, in id
// (enqueue) order.
func (s *Store) DueMail(ctx context.Context, now time.Time, limit int) ([]keyserver.OutboxMail, error) {
	query := "SELECT data FROM outbox WHERE next_attempt <= ? ORDER BY id"
	if limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", limit)
	}
	out, err := collect(ctx, s, query, []any{timeKey(now)}, func(data []byte) (keyserver.OutboxMail, error) {
		var m keyserver.OutboxMail
		return m, decode(data, &m)
	})
	if err != nil {
		return nil, fmt.Errorf("due mail: %w", err)
	}
	return out, nil
}

// UpdateMail replaces a mail; ErrNotFound if it was deleted meanwhile, so that a
// late update does not resend a delivered mail.
func (s *Store) UpdateMail(ctx context.Context, m keyserver.OutboxMail) error {
	return s.write(ctx, func(w *wtx) error {
		if m.ID > math.MaxInt64 {
			return refusal{fmt.Errorf("update mail %d: %w", m.ID, keyserver.ErrNotFound)}
		}
		var n int
		if err := w.queryRow("SELECT count(*) FROM outbox WHERE id = ?", int64(m.ID)).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return refusal{fmt.Errorf("update mail %d: %w", m.ID, keyserver.ErrNotFound)}
		}
		data, err := encode(m)
		if err != nil {
			return err
		}
		if _, err := w.exec("UPDATE outbox SET next_attempt = ?, data = ? WHERE id = ?", timeKey(m.NextAttempt), data, int64(m.ID)); err != nil {
			return fmt.Errorf("update mail %d: %w", m.ID, err)
		}
		return nil
	})
}

// DeleteMail removes a mail, if it is still there.
func (s *Store) DeleteMail(ctx context.Context, id uint64) error {
	if id > math.MaxInt64 {
		return ctx.Err()
	}
	return s.write(ctx, func(w *wtx) error {
		if _, err := w.exec("DELETE FROM outbox WHERE id = ?", int64(id)); err != nil {
			return fmt.Errorf("delete mail %d: %w", id, err)
		}
		return nil
	})
}

// OutboxDepth counts the mails waiting.
func (s *Store) OutboxDepth(ctx context.Context) (int, error) {
	var n int
	err := s.queryRow(ctx, "SELECT count(*) FROM outbox").Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	if err != nil {
		return 0, fmt.Errorf("outbox depth: %w", err)
	}
	return n, nil
}
