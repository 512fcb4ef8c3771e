package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/internal/sqltext"
)

// upsert is INSERT … ON CONFLICT DO UPDATE (package sqltext).
var upsert = sqltext.Upsert

// PutCode stores c, replacing any code for the same email and purpose.
func (s *Store) PutCode(ctx context.Context, c keyserver.Code) error {
	return s.write(ctx, func(w *wtx) error {
		data, err := encode(c)
		if err != nil {
			return err
		}
		if _, err := w.exec(upsert("codes", "email, purpose", "email", "purpose", "expires", "data"),
			c.Email, string(c.Purpose), timeKey(c.Expires), data); err != nil {
			return fmt.Errorf("put code: %w", err)
		}
		return nil
	})
}

// UpdateCode changes one code with fn.
func (s *Store) UpdateCode(ctx context.Context, email string, purpose keyserver.CodePurpose, fn func(*keyserver.Code) error) (keyserver.Code, error) {
	var out keyserver.Code
	err := s.write(ctx, func(w *wtx) error {
		var c keyserver.Code
		var data []byte
		err := w.queryRow("SELECT data FROM codes WHERE email = ? AND purpose = ?"+w.forUpdate(), email, string(purpose)).Scan(&data)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return refusal{fmt.Errorf("code %s %s: %w", purpose, email, keyserver.ErrNotFound)}
		case err != nil:
			return fmt.Errorf("code %s %s: %w", purpose, email, err)
		}
		if err := decode(data, &c); err != nil {
			return err
		}
		if err := fn(&c); err != nil {
			return refusal{err}
		}
		if c.Email != email || c.Purpose != purpose {
			return refusal{fmt.Errorf("update code %s %s: fn changed the email or purpose", purpose, email)}
		}
		enc, err := encode(c)
		if err != nil {
			return err
		}
		if _, err := w.exec("UPDATE codes SET expires = ?, data = ? WHERE email = ? AND purpose = ?", timeKey(c.Expires), enc, email, string(purpose)); err != nil {
			return fmt.Errorf("update code %s %s: %w", purpose, email, err)
		}
		out = c
		return nil
	})
	if err != nil {
		return keyserver.Code{}, err
	}
	return out, nil
}

// DeleteCode removes a code, if there is one.
func (s *Store) DeleteCode(ctx context.Context, email string, purpose keyserver.CodePurpose) error {
	return s.write(ctx, func(w *wtx) error {
		if _, err := w.exec("DELETE FROM codes WHERE email = ? AND purpose = ?", email, string(purpose)); err != nil {
			return fmt.Errorf("delete code %s %s: %w", purpose, email, err)
		}
		return nil
	})
}

// PutSession stores a session under its token hash.
func (s *Store) PutSession(ctx context.Context, sess keyserver.Session) error {
	return s.write(ctx, func(w *wtx) error {
		if len(sess.TokenHash) == 0 {
			return refusal{errors.New("put session: no token hash")}
		}
		data, err := encode(sess)
		if err != nil {
			return err
		}
		if _, err := w.exec(upsert("sessions", "token_hash", "token_hash", "account_id", "last_seen", "data"),
			sess.TokenHash, sess.AccountID, timeKey(sess.LastSeen), data); err != nil {
			return fmt.Errorf("put session: %w", err)
		}
		return nil
	})
}

// Session returns a session by token hash.
func (s *Store) Session(ctx context.Context, tokenHash []byte) (keyserver.Session, error) {
	var sess keyserver.Session
	var data []byte
	err := s.queryRow(ctx, "SELECT data FROM sessions WHERE token_hash = ?", tokenHash).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		err = keyserver.ErrNotFound
	}
	if err == nil {
		err = decode(data, &sess)
	}
	if err != nil {
		return keyserver.Session{}, fmt.Errorf("session: %w", err)
	}
	return sess, nil
}

// TouchSession sets a session's LastSeen.
func (s *Store) TouchSession(ctx context.Context, tokenHash []byte, at time.Time) error {
	return s.write(ctx, func(w *wtx) error {
		var sess keyserver.Session
		var data []byte
		err := w.queryRow("SELECT data FROM sessions WHERE token_hash = ?"+w.forUpdate(), tokenHash).Scan(&data)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return refusal{fmt.Errorf("touch session: %w", keyserver.ErrNotFound)}
		case err != nil:
			return fmt.Errorf("touch session: %w", err)
		}
		if err := decode(data, &sess); err != nil {
			return err
		}
		sess.LastSeen = at
		enc, err := encode(sess)
		if err != nil {
			return err
		}
		if _, err := w.exec("UPDATE sessions SET last_seen = ?, data = ? WHERE token_hash = ?", timeKey(at), enc, tokenHash); err != nil {
			return fmt.Errorf("touch session: %w", err)
		}
		return nil
	})
}

// DeleteSession removes a session, if there is one.
func (s *Store) DeleteSession(ctx context.Context, tokenHash []byte) error {
	return s.write(ctx, func(w *wtx) error {
		if _, err := w.exec("DELETE FROM sessions WHERE token_hash = ?", tokenHash); err != nil {
			return fmt.Errorf("delete session: %w", err)
		}
		return nil
	})
}

// DeleteAccountSessions removes every session of an account but except.
func (s *Store) DeleteAccountSessions(ctx context.Context, accountID string, except []byte) (int, error) {
	var n int
	err := s.write(ctx, func(w *wtx) error {
		var res sql.Result
		var err error
		if except == nil {
			res, err = w.exec("DELETE FROM sessions WHERE account_id = ?", accountID)
		} else {
			res, err = w.exec("DELETE FROM sessions WHERE account_id = ? AND token_hash <> ?", accountID, except)
		}
		if err != nil {
			return err
		}
		m, err := res.RowsAffected()
		n = int(m)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete sessions of %s: %w", accountID, err)
	}
	return n, nil
}

// DeleteSessionsBefore removes sessions last seen before t, and codes,
// ceremonies and invites that expired before t.
func (s *Store) DeleteSessionsBefore(ctx context.Context, t time.Time) (int, error) {
	var n int
	err := s.write(ctx, func(w *wtx) error {
		k := timeKey(t)
		res, err := w.exec("DELETE FROM sessions WHERE last_seen < ?", k)
		if err != nil {
			return err
		}
		m, err := res.RowsAffected()
		if err != nil {
			return err
		}
		n = int(m)
		for _, table := range []string{"codes", "ceremonies", "invites"} {
			if _, err := w.exec("DELETE FROM "+table+" WHERE expires < ?", k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete sessions before %s: %w", t, err)
	}
	return n, nil
}

// PutCeremony stores a WebAuthn ceremony in progress.
func (s *Store) PutCeremony(ctx context.Context, c keyserver.Ceremony) error {
	return s.write(ctx, func(w *wtx) error {
		if c.ID == "" {
			return refusal{errors.New("put ceremony: no id")}
		}
		data, err := encode(c)
		if err != nil {
			return err
		}
		if _, err := w.exec(upsert("ceremonies", "id", "id", "expires", "data"), c.ID, timeKey(c.Expires), data); err != nil {
			return fmt.Errorf("put ceremony: %w", err)
		}
		return nil
	})
}

// TakeCeremony removes and returns a ceremony that has not expired.
func (s *Store) TakeCeremony(ctx context.Context, id string, now time.Time) (keyserver.Ceremony, error) {
	var out keyserver.Ceremony
	err := s.write(ctx, func(w *wtx) error {
		out = keyserver.Ceremony{}
		return takeUnexpired(w, "ceremonies", "id", id, now, &out, func(c *keyserver.Ceremony) time.Time { return c.Expires })
	})
	if err != nil {
		return keyserver.Ceremony{}, fmt.Errorf("take ceremony: %w", err)
	}
	return out, nil
}

// PutInvite stores an administrator invite with its audit events.
func (s *Store) PutInvite(ctx context.Context, inv keyserver.Invite, events []keyserver.AuditEvent) error {
	return s.write(ctx, func(w *wtx) error {
		if len(inv.TokenHash) == 0 {
			return refusal{errors.New("put invite: no token hash")}
		}
		data, err := encode(inv)
		if err != nil {
			return err
		}
		if _, err := w.exec(upsert("invites", "token_hash", "token_hash", "expires", "data"), inv.TokenHash, timeKey(inv.Expires), data); err != nil {
			return fmt.Errorf("put invite: %w", err)
		}
		if err := w.appendAudit(events); err != nil {
			return fmt.Errorf("put invite: %w", err)
		}
		return nil
	})
}

// Invite returns an unexpired invite without using it.
func (s *Store) Invite(ctx context.Context, tokenHash []byte, now time.Time) (keyserver.Invite, error) {
	var inv keyserver.Invite
	var data []byte
	err := s.queryRow(ctx, "SELECT data FROM invites WHERE token_hash = ?", tokenHash).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		err = keyserver.ErrNotFound
	}
	if err == nil {
		err = decode(data, &inv)
	}
	if err == nil && !now.Before(inv.Expires) {
		err = keyserver.ErrNotFound
	}
	if err != nil {
		return keyserver.Invite{}, fmt.Errorf("invite: %w", err)
	}
	return inv, nil
}

// TakeInvite removes and returns an unexpired invite.
func (s *Store) TakeInvite(ctx context.Context, tokenHash []byte, now time.Time) (keyserver.Invite, error) {
	var out keyserver.Invite
	err := s.write(ctx, func(w *wtx) error {
		out = keyserver.Invite{}
		return takeUnexpired(w, "invites", "token_hash", tokenHash, now, &out, func(i *keyserver.Invite) time.Time { return i.Expires })
	})
	if err != nil {
		return keyserver.Invite{}, fmt.Errorf("take invite: %w", err)
	}
	return out, nil
}

// unexpiredInvite is a refusal wrapping ErrNotFound unless the invite is there
// and unexpired at now; it writes nothing, and locks the invite.
func (w *wtx) unexpiredInvite(tokenHash []byte, now time.Time) error {
	var inv keyserver.Invite
	return readUnexpired(w, "invites", "token_hash", tokenHash, now, &inv, func(i *keyserver.Invite) time.Time { return i.Expires })
}

func readUnexpired[T any](w *wtx, table, key string, id any, now time.Time, v *T, expires func(*T) time.Time) error {
	var data []byte
	err := w.queryRow("SELECT data FROM "+table+" WHERE "+key+" = ?"+w.forUpdate(), id).Scan(&data)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return refusal{keyserver.ErrNotFound}
	case err != nil:
		return err
	}
	if err := decode(data, v); err != nil {
		return err
	}
	if !now.Before(expires(v)) {
		*v = *new(T)
		return refusal{keyserver.ErrNotFound}
	}
	return nil
}

// takeUnexpired deletes the record and decodes it into v; a missing or expired
// one is a refusal wrapping ErrNotFound (an expired one is left for the sweep).
func takeUnexpired[T any](w *wtx, table, key string, id any, now time.Time, v *T, expires func(*T) time.Time) error {
	if err := readUnexpired(w, table, key, id, now, v, expires); err != nil {
		return err
	}
	_, err := w.exec("DELETE FROM "+table+" WHERE "+key+" = ?", id)
	return err
}
