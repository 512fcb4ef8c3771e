package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// The shared state of keyserver/shared.go: what makes key server nodes on one
// PostgreSQL act as one server (migrations 0004).
//
// A rate limit take and a failure count are one upsert each, run on their own
// (autocommit) rather than through the committer: they append no audit record,
// so they need not wait for the audit head's lock, and the database computes
// the new value from the old one under the row's lock, so two nodes never
// both take the last token. The statements are D1's too (SQLite syntax).

// TakeToken takes a token from the bucket under key (RateLimit.Take in SQL,
// in milliseconds).
func (s *Store) TakeToken(ctx context.Context, key string, rate keyserver.RateLimit, now time.Time) (bool, time.Duration, error) {
	if rate.Burst <= 0 || rate.Every <= 0 {
		return true, 0, nil
	}
	nowMs := now.UnixMilli()
	every := max(rate.Every.Milliseconds(), 1)
	slack := int64(rate.Burst-1) * every
	var ok int
	var tat int64
	err := s.db.QueryRowContext(ctx, s.q(`INSERT INTO rate_limits (key, tat, ok) VALUES (?, ?, 1)
		ON CONFLICT (key) DO UPDATE SET
			ok = CASE WHEN rate_limits.tat - ? <= ? THEN 1 ELSE 0 END,
			tat = CASE WHEN rate_limits.tat <= ? THEN ?
				WHEN rate_limits.tat - ? <= ? THEN rate_limits.tat + ?
				ELSE rate_limits.tat END
		RETURNING ok, tat`),
		key, nowMs+every, nowMs, slack, nowMs, nowMs+every, nowMs, slack, every).Scan(&ok, &tat)
	if err != nil {
		return false, 0, fmt.Errorf("take token: %w", err)
	}
	if ok == 1 {
		return true, 0, nil
	}
	return false, time.Duration(tat-nowMs-slack) * time.Millisecond, nil
}

// TokenAvailable reports whether TakeToken would succeed.
func (s *Store) TokenAvailable(ctx context.Context, key string, rate keyserver.RateLimit, now time.Time) (bool, error) {
	if rate.Burst <= 0 || rate.Every <= 0 {
		return true, nil
	}
	var tat int64
	err := s.queryRow(ctx, "SELECT tat FROM rate_limits WHERE key = ?", key).Scan(&tat)
	if errors.Is(err, sql.ErrNoRows) {
		return true, ctx.Err()
	}
	if err != nil {
		return false, fmt.Errorf("token available: %w", err)
	}
	every := max(rate.Every.Milliseconds(), 1)
	return tat-now.UnixMilli() <= int64(rate.Burst-1)*every, nil
}

// AddFailure counts a failure under key.
func (s *Store) AddFailure(ctx context.Context, key string, now time.Time) (int, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, s.q(`INSERT INTO failure_counts (key, n, last_failure) VALUES (?, 1, ?)
		ON CONFLICT (key) DO UPDATE SET n = failure_counts.n + 1, last_failure = excluded.last_failure
		RETURNING n`), key, timeKey(now)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("add failure: %w", err)
	}
	return int(n), nil
}

// Failures returns key's failure count and last failure.
func (s *Store) Failures(ctx context.Context, key string) (int, time.Time, error) {
	var n int64
	var last string
	err := s.queryRow(ctx, "SELECT n, last_failure FROM failure_counts WHERE key = ?", key).Scan(&n, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, ctx.Err()
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("failures: %w", err)
	}
	t, err := time.Parse(timeLayout, last)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("failures: last failure %q: %w", last, err)
	}
	return int(n), t, nil
}

// ResetFailures forgets key's failures.
func (s *Store) ResetFailures(ctx context.Context, key string) error {
	if _, err := s.db.ExecContext(ctx, s.q("DELETE FROM failure_counts WHERE key = ?"), key); err != nil {
		return fmt.Errorf("reset failures: %w", err)
	}
	return nil
}

// DeleteIdleLimits forgets full buckets and old failure counts.
func (s *Store) DeleteIdleLimits(ctx context.Context, now, failuresBefore time.Time) (int, error) {
	var n int64
	for _, st := range []struct {
		query string
		arg   any
	}{
		{"DELETE FROM rate_limits WHERE tat <= ?", now.UnixMilli()},
		{"DELETE FROM failure_counts WHERE last_failure < ?", timeKey(failuresBefore)},
	} {
		res, err := s.db.ExecContext(ctx, s.q(st.query), st.arg)
		if err != nil {
			return int(n), fmt.Errorf("delete idle limits: %w", err)
		}
		m, err := res.RowsAffected()
		if err != nil {
			return int(n), fmt.Errorf("delete idle limits: %w", err)
		}
		n += m
	}
	return int(n), nil
}

// PutCeremonyCapped stores c unless max unexpired ceremonies are stored: the
// count is the insert's guard, in one statement.
func (s *Store) PutCeremonyCapped(ctx context.Context, c keyserver.Ceremony, max int, now time.Time) error {
	return s.write(ctx, func(w *wtx) error {
		if c.ID == "" {
			return refusal{errors.New("put ceremony: no id")}
		}
		data, err := encode(c)
		if err != nil {
			return err
		}
		res, err := w.exec(`INSERT INTO ceremonies (id, expires, data) SELECT ?, ?, ?
			WHERE (SELECT count(*) FROM ceremonies WHERE expires > ?) < ?`,
			c.ID, timeKey(c.Expires), data, timeKey(now), int64(max))
		if err != nil {
			return fmt.Errorf("put ceremony: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("put ceremony: %w", err)
		} else if n == 0 {
			return refusal{keyserver.ErrCapReached}
		}
		return nil
	})
}

// LeaseMail leases due mails under token until until. It reads the due mails,
// then updates each guarded by the next attempt it read: a mail another
// drainer leased meanwhile fails its guard and is left out (on PostgreSQL the
// committer's lock on the audit head already orders the two; D1 needs the
// guard).
func (s *Store) LeaseMail(ctx context.Context, now, until time.Time, token string, limit int) ([]keyserver.OutboxMail, error) {
	if token == "" {
		return nil, errors.New("lease mail: no token")
	}
	var out []keyserver.OutboxMail
	err := s.write(ctx, func(w *wtx) error {
		out = out[:0]
		query := "SELECT id, next_attempt, data FROM outbox WHERE next_attempt <= ? ORDER BY id"
		if limit > 0 {
			query += fmt.Sprintf(" LIMIT %d", limit)
		}
		rows, err := w.query(query, timeKey(now))
		if err != nil {
			return err
		}
		type due struct {
			id   int64
			next string
			m    keyserver.OutboxMail
		}
		var dues []due
		for rows.Next() {
			var d due
			var data []byte
			if err := rows.Scan(&d.id, &d.next, &data); err != nil {
				rows.Close()
				return err
			}
			if err := decode(data, &d.m); err != nil {
				rows.Close()
				return fmt.Errorf("mail %d: %w", d.id, err)
			}
			dues = append(dues, d)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		for _, d := range dues {
			leased := d.m
			leased.NextAttempt = until
			data, err := encode(leased)
			if err != nil {
				return err
			}
			res, err := w.exec("UPDATE outbox SET next_attempt = ?, data = ?, lease = ?, lease_until = ? WHERE id = ? AND next_attempt = ?",
				timeKey(until), data, token, timeKey(until), d.id, d.next)
			if err != nil {
				return fmt.Errorf("lease mail %d: %w", d.id, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				out = append(out, d.m)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lease mail: %w", err)
	}
	return out, nil
}

// DeleteLeasedMail deletes a mail leased under token: one statement, the lease
// its guard.
func (s *Store) DeleteLeasedMail(ctx context.Context, id uint64, token string, now time.Time) error {
	err := s.write(ctx, func(w *wtx) error {
		if id > math.MaxInt64 || token == "" {
			return refusal{keyserver.ErrNotFound}
		}
		res, err := w.exec("DELETE FROM outbox WHERE id = ? AND lease = ? AND lease_until >= ?", int64(id), token, timeKey(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return refusal{keyserver.ErrNotFound}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete leased mail %d: %w", id, err)
	}
	return nil
}

// RetryLeasedMail records a failed attempt at a mail leased under token.
func (s *Store) RetryLeasedMail(ctx context.Context, id uint64, token string, now time.Time, attempts int, next time.Time, lastError string) error {
	err := s.write(ctx, func(w *wtx) error {
		if id > math.MaxInt64 || token == "" {
			return refusal{keyserver.ErrNotFound}
		}
		var data []byte
		err := w.queryRow("SELECT data FROM outbox WHERE id = ? AND lease = ? AND lease_until >= ?", int64(id), token, timeKey(now)).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			return refusal{keyserver.ErrNotFound}
		} else if err != nil {
			return err
		}
		var m keyserver.OutboxMail
		if err := decode(data, &m); err != nil {
			return err
		}
		m.Attempts = max(attempts, m.Attempts)
		m.NextAttempt = next
		m.LastError = lastError
		enc, err := encode(m)
		if err != nil {
			return err
		}
		_, err = w.exec("UPDATE outbox SET next_attempt = ?, data = ?, lease = NULL, lease_until = NULL WHERE id = ? AND lease = ?",
			timeKey(next), enc, int64(id), token)
		return err
	})
	if err != nil {
		return fmt.Errorf("retry leased mail %d: %w", id, err)
	}
	return nil
}

// TryLead takes the lead. On PostgreSQL it is a session advisory lock, named
// after the schema (nodes of one installation share it, other installations
// in the same database do not), held on a connection kept out of the pool
// until Release; if that connection breaks, the lock goes with it and Check
// says so. On SQLite, which one process serves, the lead is the process's.
func (s *Store) TryLead(ctx context.Context) (keyserver.Leadership, bool, error) {
	local, ok, err := s.lead.TryLead(ctx)
	if !ok || err != nil || s.driver != Postgres {
		return local, ok, err
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		local.Release()
		return nil, false, fmt.Errorf("take the lead: %w", err)
	}
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock(hashtext(current_schema() || '.waxseal.leader'))").Scan(&ok); err != nil || !ok {
		conn.Close()
		local.Release()
		if err != nil {
			return nil, false, fmt.Errorf("take the lead: %w", err)
		}
		return nil, false, nil
	}
	return &pgLead{local: local, conn: conn}, true, nil
}

// pgLead is a lead held on PostgreSQL: conn is the session holding the lock.
type pgLead struct {
	local keyserver.Leadership
	conn  *sql.Conn
	once  sync.Once
}

// Check asks the session holding the lock to answer: a session lock lasts
// until it is unlocked or its session ends, so an answer means it is held.
func (l *pgLead) Check(ctx context.Context) error {
	var one int
	if err := l.conn.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("check the lead: %w", err)
	}
	return nil
}

// Release unlocks and returns the connection (closing it ends the session's
// locks in any case).
func (l *pgLead) Release() {
	l.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		l.conn.ExecContext(ctx, "SELECT pg_advisory_unlock(hashtext(current_schema() || '.waxseal.leader'))")
		cancel()
		l.conn.Close()
		l.local.Release()
	})
}

var _ keyserver.ThreadHashLister = (*Store)(nil)

// ThreadHashes lists the stored thread hashes.
func (s *Store) ThreadHashes(ctx context.Context, fn func(hash []byte, expires time.Time) error) error {
	rows, err := s.query(ctx, "SELECT hash, expires FROM thread_hashes ORDER BY hash")
	if err != nil {
		return fmt.Errorf("thread hashes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h []byte
		var exp string
		if err := rows.Scan(&h, &exp); err != nil {
			return fmt.Errorf("thread hashes: %w", err)
		}
		t, err := time.Parse(timeLayout, exp)
		if err != nil {
			return fmt.Errorf("thread hash %x: expiry %q: %w", h, exp, err)
		}
		if err := fn(h, t); err != nil {
			return err
		}
	}
	return rows.Err()
}
