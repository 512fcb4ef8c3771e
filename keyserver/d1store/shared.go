//go:build js && wasm

package d1store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/waxseal/waxseal/internal/d1batch"
	"github.com/waxseal/waxseal/keyserver"
)

// The rate limits, failure counts and the ceremony cap are single statements
// (a check and a change in one UPSERT … RETURNING), atomic in D1 on their own:
// they need neither a batch nor the write version, and cost one round trip.

// one runs a single statement and returns its rows.
func (s *Store) one(ctx context.Context, q string, args ...any) ([]row, error) {
	return s.query(ctx, q, args...)
}

// TakeToken takes a token from key's bucket (GCRA, in milliseconds).
func (s *Store) TakeToken(ctx context.Context, key string, rate keyserver.RateLimit, now time.Time) (bool, time.Duration, error) {
	if rate.Burst <= 0 || rate.Every <= 0 {
		return true, 0, ctx.Err()
	}
	nowMs := now.UnixMilli()
	every := max(rate.Every.Milliseconds(), 1)
	slack := int64(rate.Burst-1) * every
	rows, err := s.one(ctx, `INSERT INTO rate_limits (key, tat, ok) VALUES (?, ?, 1)
		ON CONFLICT (key) DO UPDATE SET
			ok = CASE WHEN rate_limits.tat - ? <= ? THEN 1 ELSE 0 END,
			tat = CASE WHEN rate_limits.tat <= ? THEN ?
				WHEN rate_limits.tat - ? <= ? THEN rate_limits.tat + ?
				ELSE rate_limits.tat END
		RETURNING ok, tat`,
		key, nowMs+every, nowMs, slack, nowMs, nowMs+every, nowMs, slack, every)
	if err == nil && len(rows) != 1 {
		err = errors.New("no row returned")
	}
	if err != nil {
		return false, 0, fmt.Errorf("take token: %w", err)
	}
	if rows[0].int("ok") == 1 {
		return true, 0, nil
	}
	return false, time.Duration(rows[0].int("tat")-nowMs-slack) * time.Millisecond, nil
}

// TokenAvailable reports whether TakeToken would succeed now.
func (s *Store) TokenAvailable(ctx context.Context, key string, rate keyserver.RateLimit, now time.Time) (bool, error) {
	if rate.Burst <= 0 || rate.Every <= 0 {
		return true, ctx.Err()
	}
	rows, err := s.query(ctx, "SELECT tat FROM rate_limits WHERE key = ?", key)
	if err != nil {
		return false, fmt.Errorf("token available: %w", err)
	}
	if len(rows) == 0 {
		return true, nil
	}
	every := max(rate.Every.Milliseconds(), 1)
	return rows[0].int("tat")-now.UnixMilli() <= int64(rate.Burst-1)*every, nil
}

// AddFailure counts a failure under key.
func (s *Store) AddFailure(ctx context.Context, key string, now time.Time) (int, error) {
	rows, err := s.one(ctx, `INSERT INTO failure_counts (key, n, last_failure) VALUES (?, 1, ?)
		ON CONFLICT (key) DO UPDATE SET n = failure_counts.n + 1, last_failure = excluded.last_failure
		RETURNING n`, key, timeKey(now))
	if err == nil && len(rows) != 1 {
		err = errors.New("no row returned")
	}
	if err != nil {
		return 0, fmt.Errorf("add failure: %w", err)
	}
	return int(rows[0].int("n")), nil
}

// Failures returns key's failure count and the time of the last.
func (s *Store) Failures(ctx context.Context, key string) (int, time.Time, error) {
	rows, err := s.query(ctx, "SELECT n, last_failure FROM failure_counts WHERE key = ?", key)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("failures: %w", err)
	}
	if len(rows) == 0 {
		return 0, time.Time{}, nil
	}
	return int(rows[0].int("n")), rows[0].time("last_failure"), nil
}

// ResetFailures forgets key's failures.
func (s *Store) ResetFailures(ctx context.Context, key string) error {
	if _, err := s.one(ctx, "DELETE FROM failure_counts WHERE key = ?", key); err != nil {
		return fmt.Errorf("reset failures: %w", err)
	}
	return nil
}

// DeleteIdleLimits forgets full buckets and old failure counts, in one batch.
func (s *Store) DeleteIdleLimits(ctx context.Context, now, failuresBefore time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	res, err := d1batch.Batch(ctx, s.db, []stmt{
		{SQL: "DELETE FROM rate_limits WHERE tat <= ?", Args: []any{now.UnixMilli()}},
		{SQL: "DELETE FROM failure_counts WHERE last_failure < ?", Args: []any{timeKey(failuresBefore)}},
	})
	if err != nil {
		return 0, fmt.Errorf("delete idle limits: %w", err)
	}
	return int(res[0].Changes + res[1].Changes), nil
}

// PutCeremonyCapped stores c unless max ceremonies are in progress: the count
// and the insert are one statement.
func (s *Store) PutCeremonyCapped(ctx context.Context, c keyserver.Ceremony, max int, now time.Time) error {
	if c.ID == "" {
		return errors.New("put ceremony: no id")
	}
	data, err := encode(c)
	if err != nil {
		return err
	}
	rows, err := s.one(ctx, `INSERT INTO ceremonies (id, expires, data) SELECT ?, ?, ?
		WHERE (SELECT count(*) FROM ceremonies WHERE expires > ?) < ?
		ON CONFLICT (id) DO UPDATE SET expires = excluded.expires, data = excluded.data
		RETURNING id`, c.ID, timeKey(c.Expires), data, timeKey(now), int64(max))
	if err != nil {
		return fmt.Errorf("put ceremony: %w", err)
	}
	if len(rows) == 0 {
		return keyserver.ErrCapReached
	}
	return nil
}

// LeaseMail leases due mail under token until until.
func (s *Store) LeaseMail(ctx context.Context, now, until time.Time, token string, limit int) ([]keyserver.OutboxMail, error) {
	if token == "" {
		return nil, errors.New("lease mail: no token")
	}
	var out []keyserver.OutboxMail
	err := s.write(ctx, func(w *wtx) error {
		query := "SELECT data FROM outbox WHERE next_attempt <= ? ORDER BY id"
		if limit > 0 {
			query += fmt.Sprintf(" LIMIT %d", limit)
		}
		rows, err := w.query(query, timeKey(now))
		if err != nil {
			return err
		}
		out, err = decodeMails(rows)
		if err != nil {
			return err
		}
		for _, m := range out {
			leased := m
			leased.NextAttempt = until
			data, err := encode(leased)
			if err != nil {
				return err
			}
			w.exec("UPDATE outbox SET next_attempt = ?, data = ?, lease = ?, lease_until = ? WHERE id = ?",
				timeKey(until), data, token, timeKey(until), int64(m.ID))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lease mail: %w", err)
	}
	return out, nil
}

// DeleteLeasedMail deletes mail id if leased under token and the lease holds.
func (s *Store) DeleteLeasedMail(ctx context.Context, id uint64, token string, now time.Time) error {
	err := s.write(ctx, func(w *wtx) error {
		if id > 1<<53 || token == "" {
			return keyserver.ErrNotFound
		}
		rows, err := w.query("SELECT id FROM outbox WHERE id = ? AND lease = ? AND lease_until >= ?", int64(id), token, timeKey(now))
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return keyserver.ErrNotFound
		}
		w.exec("DELETE FROM outbox WHERE id = ?", int64(id))
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete leased mail %d: %w", id, err)
	}
	return nil
}

// RetryLeasedMail records a failed attempt at leased mail and ends the lease.
func (s *Store) RetryLeasedMail(ctx context.Context, id uint64, token string, now time.Time, attempts int, next time.Time, lastError string) error {
	err := s.write(ctx, func(w *wtx) error {
		if id > 1<<53 || token == "" {
			return keyserver.ErrNotFound
		}
		rows, err := w.query("SELECT data FROM outbox WHERE id = ? AND lease = ? AND lease_until >= ?", int64(id), token, timeKey(now))
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return keyserver.ErrNotFound
		}
		var m keyserver.OutboxMail
		if err := decode(rows[0].str("data"), &m); err != nil {
			return err
		}
		m.Attempts = max(attempts, m.Attempts)
		m.NextAttempt = next
		m.LastError = lastError
		enc, err := encode(m)
		if err != nil {
			return err
		}
		w.exec("UPDATE outbox SET next_attempt = ?, data = ?, lease = NULL, lease_until = NULL WHERE id = ?", timeKey(next), enc, int64(id))
		return nil
	})
	if err != nil {
		return fmt.Errorf("retry leased mail %d: %w", id, err)
	}
	return nil
}

// leaderTerm is how long a lead lasts without a Check renewing it: a holder
// that vanished (its isolate evicted) frees the lead after this.
const leaderTerm = time.Minute

// leadState is this store's own lead, so that it does not lead twice.
type leadState struct {
	mu   sync.Mutex
	held bool
}

// TryLead takes the lead row if it is free or its holder's term ran out.
func (s *Store) TryLead(ctx context.Context) (keyserver.Leadership, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	s.lead.mu.Lock()
	defer s.lead.mu.Unlock()
	if s.lead.held {
		return nil, false, nil
	}
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	now := time.Now()
	rows, err := s.one(ctx, `INSERT INTO leader (id, holder, until) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, until = excluded.until WHERE leader.until < ?
		RETURNING holder`, token, timeKey(now.Add(leaderTerm)), timeKey(now))
	if err != nil {
		return nil, false, fmt.Errorf("take the lead: %w", err)
	}
	if len(rows) == 0 || rows[0].str("holder") != token {
		return nil, false, nil
	}
	s.lead.held = true
	return &lead{s: s, token: token}, true, nil
}

type lead struct {
	s     *Store
	token string
	once  sync.Once
}

// Check renews the term; an error once another holder took the lead.
func (l *lead) Check(ctx context.Context) error {
	now := time.Now()
	rows, err := l.s.one(ctx, "UPDATE leader SET until = ? WHERE id = 1 AND holder = ? RETURNING holder", timeKey(now.Add(leaderTerm)), l.token)
	if err != nil {
		return fmt.Errorf("check the lead: %w", err)
	}
	if len(rows) == 0 {
		return errors.New("check the lead: another holder has it")
	}
	return nil
}

// Release gives the lead up.
func (l *lead) Release() {
	l.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = l.s.one(ctx, "DELETE FROM leader WHERE id = 1 AND holder = ?", l.token)
		cancel()
		l.s.lead.mu.Lock()
		l.s.lead.held = false
		l.s.lead.mu.Unlock()
	})
}
