//go:build js && wasm

package d1store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/internal/sqltext"
)

// upsert is INSERT … ON CONFLICT DO UPDATE (package sqltext).
var upsert = sqltext.Upsert

// PutCode stores a code, replacing one for the same email and purpose.
func (s *Store) PutCode(ctx context.Context, c keyserver.Code) error {
	return s.write(ctx, func(w *wtx) error {
		data, err := encode(c)
		if err != nil {
			return err
		}
		w.exec(upsert("codes", "email, purpose", "email", "purpose", "expires", "data"),
			c.Email, string(c.Purpose), timeKey(c.Expires), data)
		return nil
	})
}

// UpdateCode changes a code with fn.
func (s *Store) UpdateCode(ctx context.Context, email string, purpose keyserver.CodePurpose, fn func(*keyserver.Code) error) (keyserver.Code, error) {
	var out keyserver.Code
	err := s.write(ctx, func(w *wtx) error {
		rows, err := w.query("SELECT data FROM codes WHERE email = ? AND purpose = ?", email, string(purpose))
		if err != nil {
			return fmt.Errorf("code %s %s: %w", purpose, email, err)
		}
		if len(rows) == 0 {
			return fmt.Errorf("code %s %s: %w", purpose, email, keyserver.ErrNotFound)
		}
		var c keyserver.Code
		if err := decode(rows[0].str("data"), &c); err != nil {
			return err
		}
		if err := fn(&c); err != nil {
			return err
		}
		if c.Email != email || c.Purpose != purpose {
			return fmt.Errorf("update code %s %s: fn changed the email or purpose", purpose, email)
		}
		enc, err := encode(c)
		if err != nil {
			return err
		}
		w.exec("UPDATE codes SET expires = ?, data = ? WHERE email = ? AND purpose = ?", timeKey(c.Expires), enc, email, string(purpose))
		out = c
		return nil
	})
	if err != nil {
		return keyserver.Code{}, err
	}
	return out, nil
}

// DeleteCode removes a code.
func (s *Store) DeleteCode(ctx context.Context, email string, purpose keyserver.CodePurpose) error {
	return s.write(ctx, func(w *wtx) error {
		w.exec("DELETE FROM codes WHERE email = ? AND purpose = ?", email, string(purpose))
		return nil
	})
}

// PutSession stores a session under its token hash.
func (s *Store) PutSession(ctx context.Context, sess keyserver.Session) error {
	return s.write(ctx, func(w *wtx) error {
		if len(sess.TokenHash) == 0 {
			return errors.New("put session: no token hash")
		}
		data, err := encode(sess)
		if err != nil {
			return err
		}
		w.exec(upsert("sessions", "token_hash", "token_hash", "account_id", "last_seen", "data"),
			hx(sess.TokenHash), sess.AccountID, timeKey(sess.LastSeen), data)
		return nil
	})
}

// Session returns a session by token hash.
func (s *Store) Session(ctx context.Context, tokenHash []byte) (keyserver.Session, error) {
	var sess keyserver.Session
	rows, err := s.query(ctx, "SELECT data FROM sessions WHERE token_hash = ?", hx(tokenHash))
	if err == nil && len(rows) == 0 {
		err = keyserver.ErrNotFound
	}
	if err == nil {
		err = decode(rows[0].str("data"), &sess)
	}
	if err != nil {
		return keyserver.Session{}, fmt.Errorf("session: %w", err)
	}
	return sess, nil
}

// TouchSession sets LastSeen.
func (s *Store) TouchSession(ctx context.Context, tokenHash []byte, at time.Time) error {
	return s.write(ctx, func(w *wtx) error {
		rows, err := w.query("SELECT data FROM sessions WHERE token_hash = ?", hx(tokenHash))
		if err != nil {
			return fmt.Errorf("touch session: %w", err)
		}
		if len(rows) == 0 {
			return fmt.Errorf("touch session: %w", keyserver.ErrNotFound)
		}
		var sess keyserver.Session
		if err := decode(rows[0].str("data"), &sess); err != nil {
			return err
		}
		sess.LastSeen = at
		enc, err := encode(sess)
		if err != nil {
			return err
		}
		w.exec("UPDATE sessions SET last_seen = ?, data = ? WHERE token_hash = ?", timeKey(at), enc, hx(tokenHash))
		return nil
	})
}

// DeleteSession removes one session.
func (s *Store) DeleteSession(ctx context.Context, tokenHash []byte) error {
	return s.write(ctx, func(w *wtx) error {
		w.exec("DELETE FROM sessions WHERE token_hash = ?", hx(tokenHash))
		return nil
	})
}

// DeleteAccountSessions removes an account's sessions but except.
func (s *Store) DeleteAccountSessions(ctx context.Context, accountID string, except []byte) (int, error) {
	var n int
	err := s.write(ctx, func(w *wtx) error {
		rows, err := w.query("SELECT count(*) AS n FROM sessions WHERE account_id = ? AND token_hash <> ?", accountID, hx(except))
		if err != nil {
			return err
		}
		n = int(rows[0].int("n"))
		if n > 0 {
			w.exec("DELETE FROM sessions WHERE account_id = ? AND token_hash <> ?", accountID, hx(except))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete sessions of %s: %w", accountID, err)
	}
	return n, nil
}

// DeleteSessionsBefore removes sessions last seen before t and the codes,
// ceremonies and invites that expired before t.
func (s *Store) DeleteSessionsBefore(ctx context.Context, t time.Time) (int, error) {
	var n int
	err := s.write(ctx, func(w *wtx) error {
		k := timeKey(t)
		rows, err := w.query("SELECT count(*) AS n FROM sessions WHERE last_seen < ?", k)
		if err != nil {
			return err
		}
		n = int(rows[0].int("n"))
		w.exec("DELETE FROM sessions WHERE last_seen < ?", k)
		for _, table := range []string{"codes", "ceremonies", "invites"} {
			w.exec("DELETE FROM "+table+" WHERE expires < ?", k)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete sessions before %s: %w", t, err)
	}
	return n, nil
}

// PutCeremony stores a WebAuthn ceremony.
func (s *Store) PutCeremony(ctx context.Context, c keyserver.Ceremony) error {
	return s.write(ctx, func(w *wtx) error { return w.putCeremony(c) })
}

func (w *wtx) putCeremony(c keyserver.Ceremony) error {
	if c.ID == "" {
		return errors.New("put ceremony: no id")
	}
	data, err := encode(c)
	if err != nil {
		return err
	}
	w.exec(upsert("ceremonies", "id", "id", "expires", "data"), c.ID, timeKey(c.Expires), data)
	return nil
}

// TakeCeremony removes an unexpired ceremony and returns it.
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

// PutInvite stores an invite with its audit events.
func (s *Store) PutInvite(ctx context.Context, inv keyserver.Invite, events []keyserver.AuditEvent) error {
	return s.write(ctx, func(w *wtx) error {
		if len(inv.TokenHash) == 0 {
			return errors.New("put invite: no token hash")
		}
		data, err := encode(inv)
		if err != nil {
			return err
		}
		w.exec(upsert("invites", "token_hash", "token_hash", "expires", "data"), hx(inv.TokenHash), timeKey(inv.Expires), data)
		return w.appendAudit(events)
	})
}

// Invite returns an unexpired invite without using it.
func (s *Store) Invite(ctx context.Context, tokenHash []byte, now time.Time) (keyserver.Invite, error) {
	var inv keyserver.Invite
	rows, err := s.query(ctx, "SELECT data FROM invites WHERE token_hash = ?", hx(tokenHash))
	if err == nil && len(rows) == 0 {
		err = keyserver.ErrNotFound
	}
	if err == nil {
		err = decode(rows[0].str("data"), &inv)
	}
	if err == nil && !now.Before(inv.Expires) {
		err = keyserver.ErrNotFound
	}
	if err != nil {
		return keyserver.Invite{}, fmt.Errorf("invite: %w", err)
	}
	return inv, nil
}

// TakeInvite removes an unexpired invite and returns it.
func (s *Store) TakeInvite(ctx context.Context, tokenHash []byte, now time.Time) (keyserver.Invite, error) {
	var out keyserver.Invite
	err := s.write(ctx, func(w *wtx) error {
		out = keyserver.Invite{}
		return takeUnexpired(w, "invites", "token_hash", hx(tokenHash), now, &out, func(i *keyserver.Invite) time.Time { return i.Expires })
	})
	if err != nil {
		return keyserver.Invite{}, fmt.Errorf("take invite: %w", err)
	}
	return out, nil
}

func (w *wtx) unexpiredInvite(tokenHash []byte, now time.Time) error {
	var inv keyserver.Invite
	return readUnexpired(w, "invites", "token_hash", hx(tokenHash), now, &inv, func(i *keyserver.Invite) time.Time { return i.Expires })
}

func readUnexpired[T any](w *wtx, table, key string, id any, now time.Time, v *T, expires func(*T) time.Time) error {
	rows, err := w.query("SELECT data FROM "+table+" WHERE "+key+" = ?", id)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return keyserver.ErrNotFound
	}
	if err := decode(rows[0].str("data"), v); err != nil {
		return err
	}
	if !now.Before(expires(v)) {
		*v = *new(T)
		return keyserver.ErrNotFound
	}
	return nil
}

func takeUnexpired[T any](w *wtx, table, key string, id any, now time.Time, v *T, expires func(*T) time.Time) error {
	if err := readUnexpired(w, table, key, id, now, v, expires); err != nil {
		return err
	}
	w.exec("DELETE FROM "+table+" WHERE "+key+" = ?", id)
	return nil
}
