//go:build js && wasm

package d1store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// CreateAccount stores a new account and indexes its credentials.
func (s *Store) CreateAccount(ctx context.Context, a keyserver.Account, events []keyserver.AuditEvent) error {
	return s.write(ctx, func(w *wtx) error { return w.createAccount(&a, events) })
}

func (w *wtx) createAccount(a *keyserver.Account, events []keyserver.AuditEvent) error {
	if a.ID == "" || a.Email == "" {
		return errors.New("create account: id and email are required")
	}
	rows, err := w.query("SELECT id, email FROM accounts WHERE email = ? OR id = ?", a.Email, a.ID)
	if err != nil {
		return err
	}
	if len(rows) > 0 {
		return fmt.Errorf("create account %s <%s>: %w", a.ID, a.Email, keyserver.ErrConflict)
	}
	if err := w.checkCredentials(a.ID, a.Credentials); err != nil {
		return err
	}
	data, err := encode(a)
	if err != nil {
		return err
	}
	w.exec("INSERT INTO accounts (id, email, data) VALUES (?, ?, ?)", a.ID, a.Email, data)
	w.indexCredentials(a.ID, nil, a.Credentials)
	return w.appendAudit(events)
}

// checkCredentials refuses a credential id another account holds.
func (w *wtx) checkCredentials(id string, creds []keyserver.Credential) error {
	seen := map[string]bool{}
	for _, c := range creds {
		if len(c.ID) == 0 {
			return fmt.Errorf("account %s: credential without an id", id)
		}
		if seen[string(c.ID)] {
			return fmt.Errorf("account %s: credential listed twice: %w", id, keyserver.ErrConflict)
		}
		seen[string(c.ID)] = true
		rows, err := w.query("SELECT account_id FROM credentials WHERE id = ?", hx(c.ID))
		if err != nil {
			return err
		}
		if len(rows) > 0 && rows[0].str("account_id") != id {
			return fmt.Errorf("account %s: credential held by another account: %w", id, keyserver.ErrConflict)
		}
	}
	return nil
}

func (w *wtx) indexCredentials(id string, old, cur []keyserver.Credential) {
	keep := map[string]bool{}
	for _, c := range cur {
		keep[string(c.ID)] = true
	}
	had := map[string]bool{}
	for _, c := range old {
		had[string(c.ID)] = true
		if !keep[string(c.ID)] {
			w.exec("DELETE FROM credentials WHERE id = ?", hx(c.ID))
		}
	}
	for _, c := range cur {
		if !had[string(c.ID)] {
			w.exec("INSERT INTO credentials (id, account_id) VALUES (?, ?)", hx(c.ID), id)
		}
	}
}

// Account returns an account by id.
func (s *Store) Account(ctx context.Context, id string) (keyserver.Account, error) {
	a, err := s.account(ctx, "SELECT data FROM accounts WHERE id = ?", id)
	if err != nil {
		return a, fmt.Errorf("account %s: %w", id, err)
	}
	return a, nil
}

// AccountByEmail returns an account by normalized email.
func (s *Store) AccountByEmail(ctx context.Context, email string) (keyserver.Account, error) {
	a, err := s.account(ctx, "SELECT data FROM accounts WHERE email = ?", email)
	if err != nil {
		return a, fmt.Errorf("account %s: %w", email, err)
	}
	return a, nil
}

// AccountByCredential returns the account holding a passkey.
func (s *Store) AccountByCredential(ctx context.Context, credentialID []byte) (keyserver.Account, error) {
	if len(credentialID) == 0 {
		return keyserver.Account{}, fmt.Errorf("account by credential: %w", keyserver.ErrNotFound)
	}
	a, err := s.account(ctx, "SELECT a.data AS data FROM credentials c JOIN accounts a ON a.id = c.account_id WHERE c.id = ?", hx(credentialID))
	if err != nil {
		return a, fmt.Errorf("account by credential: %w", err)
	}
	return a, nil
}

func (s *Store) account(ctx context.Context, query string, arg any) (keyserver.Account, error) {
	var a keyserver.Account
	rows, err := s.query(ctx, query, arg)
	if err != nil {
		return a, err
	}
	if len(rows) == 0 {
		return a, keyserver.ErrNotFound
	}
	return a, decode(rows[0].str("data"), &a)
}

func (w *wtx) accountToWrite(id string) (keyserver.Account, error) {
	var a keyserver.Account
	rows, err := w.query("SELECT data FROM accounts WHERE id = ?", id)
	if err != nil {
		return a, fmt.Errorf("account %s: %w", id, err)
	}
	if len(rows) == 0 {
		return a, fmt.Errorf("account %s: %w", id, keyserver.ErrNotFound)
	}
	return a, decode(rows[0].str("data"), &a)
}

// UpdateAccount changes an account with fn.
func (s *Store) UpdateAccount(ctx context.Context, id string, fn func(*keyserver.Account) ([]keyserver.AuditEvent, error)) (keyserver.Account, error) {
	var out keyserver.Account
	err := s.write(ctx, func(w *wtx) error {
		var err error
		out, err = w.updateAccount(id, fn)
		return err
	})
	if err != nil {
		return keyserver.Account{}, err
	}
	return out, nil
}

func (w *wtx) updateAccount(id string, fn func(*keyserver.Account) ([]keyserver.AuditEvent, error)) (keyserver.Account, error) {
	a, err := w.accountToWrite(id)
	if err != nil {
		return a, err
	}
	ch, err := keyserver.ChangeAccount(a, fn)
	a = ch.Account
	if err != nil {
		return a, err
	}
	if ch.LeftAdmin {
		if err := w.keepAnAdmin(id); err != nil {
			return a, err
		}
	}
	if err := w.checkCredentials(id, a.Credentials); err != nil {
		return a, err
	}
	data, err := encode(&a)
	if err != nil {
		return a, err
	}
	w.exec("UPDATE accounts SET data = ? WHERE id = ?", data, id)
	w.indexCredentials(id, ch.Before, a.Credentials)
	return a, w.appendAudit(ch.Events)
}

// keepAnAdmin refuses with ErrLastAdmin unless an account other than id is an
// administrator. The write version guards the answer until the batch commits.
func (w *wtx) keepAnAdmin(id string) error {
	rows, err := w.query(`SELECT data FROM accounts WHERE id <> ? AND data LIKE '%"role":"admin"%'`, id)
	if err != nil {
		return fmt.Errorf("find another administrator: %w", err)
	}
	for _, r := range rows {
		var other keyserver.Account
		if err := decode(r.str("data"), &other); err != nil {
			return fmt.Errorf("find another administrator: %w", err)
		}
		if other.Role == keyserver.RoleAdmin {
			return nil
		}
	}
	return keyserver.ErrLastAdmin
}

// TakeInviteCreateAccount uses up an invite and creates the account in one
// batch.
func (s *Store) TakeInviteCreateAccount(ctx context.Context, tokenHash []byte, now time.Time, a keyserver.Account, events []keyserver.AuditEvent) error {
	err := s.write(ctx, func(w *wtx) error {
		if err := w.unexpiredInvite(tokenHash, now); err != nil {
			return err
		}
		if err := w.createAccount(&a, events); err != nil {
			return err
		}
		w.exec("DELETE FROM invites WHERE token_hash = ?", hx(tokenHash))
		return nil
	})
	if err != nil {
		return fmt.Errorf("enrol: %w", err)
	}
	return nil
}

// TakeInviteUpdateAccount uses up an invite and updates the account in one
// batch.
func (s *Store) TakeInviteUpdateAccount(ctx context.Context, tokenHash []byte, now time.Time, id string, fn func(*keyserver.Account) ([]keyserver.AuditEvent, error)) (keyserver.Account, error) {
	var out keyserver.Account
	err := s.write(ctx, func(w *wtx) error {
		if err := w.unexpiredInvite(tokenHash, now); err != nil {
			return err
		}
		a, err := w.updateAccount(id, fn)
		if err != nil {
			return err
		}
		w.exec("DELETE FROM invites WHERE token_hash = ?", hx(tokenHash))
		out = a
		return nil
	})
	if err != nil {
		return keyserver.Account{}, fmt.Errorf("enrol: %w", err)
	}
	return out, nil
}

// DeleteAccount removes an account, its sessions and credentials.
func (s *Store) DeleteAccount(ctx context.Context, id string, events []keyserver.AuditEvent) error {
	return s.write(ctx, func(w *wtx) error {
		a, err := w.accountToWrite(id)
		if err != nil {
			return err
		}
		if a.Role == keyserver.RoleAdmin {
			if err := w.keepAnAdmin(id); err != nil {
				return err
			}
		}
		w.exec("DELETE FROM sessions WHERE account_id = ?", id)
		w.exec("DELETE FROM credentials WHERE account_id = ?", id)
		w.exec("DELETE FROM accounts WHERE id = ?", id)
		return w.appendAudit(events)
	})
}

// ListAccounts returns all accounts by email.
func (s *Store) ListAccounts(ctx context.Context) ([]keyserver.Account, error) {
	rows, err := s.query(ctx, "SELECT data FROM accounts ORDER BY email")
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	out := make([]keyserver.Account, len(rows))
	for i, r := range rows {
		if err := decode(r.str("data"), &out[i]); err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
	}
	return out, nil
}
