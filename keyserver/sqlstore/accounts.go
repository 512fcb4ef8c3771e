package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// CreateAccount stores a new account; ErrConflict if its email, id or one of its
// credential ids is taken.
func (s *Store) CreateAccount(ctx context.Context, a keyserver.Account, events []keyserver.AuditEvent) error {
	return s.write(ctx, func(w *wtx) error {
		return w.createAccount(&a, events)
	})
}

func (w *wtx) createAccount(a *keyserver.Account, events []keyserver.AuditEvent) error {
	if a.ID == "" || a.Email == "" {
		return refusal{errors.New("create account: id and email are required")}
	}
	var n int
	if err := w.queryRow("SELECT count(*) FROM accounts WHERE email = ?", a.Email).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return refusal{fmt.Errorf("create account: email %s: %w", a.Email, keyserver.ErrConflict)}
	}
	if err := w.queryRow("SELECT count(*) FROM accounts WHERE id = ?", a.ID).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return refusal{fmt.Errorf("create account: id %s: %w", a.ID, keyserver.ErrConflict)}
	}
	if err := w.checkCredentials(a.ID, a.Credentials); err != nil {
		return err
	}
	data, err := encode(a)
	if err != nil {
		return err
	}
	if _, err := w.exec("INSERT INTO accounts (id, email, data) VALUES (?, ?, ?)", a.ID, a.Email, data); err != nil {
		return fmt.Errorf("create account %s: %w", a.ID, err)
	}
	if err := w.indexCredentials(a.ID, nil, a.Credentials); err != nil {
		return fmt.Errorf("create account %s: %w", a.ID, err)
	}
	if err := w.appendAudit(events); err != nil {
		return fmt.Errorf("create account %s: %w", a.ID, err)
	}
	return nil
}

// checkCredentials refuses credential ids that are empty, listed twice, or held
// by another account, before anything is written.
func (w *wtx) checkCredentials(id string, creds []keyserver.Credential) error {
	seen := map[string]bool{}
	for _, c := range creds {
		if len(c.ID) == 0 {
			return refusal{fmt.Errorf("account %s: credential without an id", id)}
		}
		if seen[string(c.ID)] {
			return refusal{fmt.Errorf("account %s: credential listed twice: %w", id, keyserver.ErrConflict)}
		}
		seen[string(c.ID)] = true
		var owner string
		err := w.queryRow("SELECT account_id FROM credentials WHERE id = ?", c.ID).Scan(&owner)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case owner != id:
			return refusal{fmt.Errorf("account %s: credential held by another account: %w", id, keyserver.ErrConflict)}
		}
	}
	return nil
}

// indexCredentials moves the credential index of account id from old to cur
// (checked by checkCredentials).
func (w *wtx) indexCredentials(id string, old, cur []keyserver.Credential) error {
	keep := map[string]bool{}
	for _, c := range cur {
		keep[string(c.ID)] = true
	}
	had := map[string]bool{}
	for _, c := range old {
		had[string(c.ID)] = true
		if !keep[string(c.ID)] {
			if _, err := w.exec("DELETE FROM credentials WHERE id = ?", c.ID); err != nil {
				return err
			}
		}
	}
	for _, c := range cur {
		if had[string(c.ID)] {
			continue
		}
		if _, err := w.exec("INSERT INTO credentials (id, account_id) VALUES (?, ?)", c.ID, id); err != nil {
			return err
		}
	}
	return nil
}

// Account returns an account by id.
func (s *Store) Account(ctx context.Context, id string) (keyserver.Account, error) {
	a, err := s.account(ctx, "SELECT data FROM accounts WHERE id = ?", id)
	if err != nil {
		return a, fmt.Errorf("account %s: %w", id, err)
	}
	return a, nil
}

// AccountByEmail returns an account by its normalized email.
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
	a, err := s.account(ctx, "SELECT a.data FROM credentials c JOIN accounts a ON a.id = c.account_id WHERE c.id = ?", credentialID)
	if err != nil {
		return a, fmt.Errorf("account by credential: %w", err)
	}
	return a, nil
}

func (s *Store) account(ctx context.Context, query string, arg any) (keyserver.Account, error) {
	var a keyserver.Account
	var data []byte
	err := s.queryRow(ctx, query, arg).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return a, keyserver.ErrNotFound
	}
	if err == nil {
		err = decode(data, &a)
	}
	return a, err
}

// accountToWrite reads (and locks) the account a write is about; its absence is
// a refusal.
func (w *wtx) accountToWrite(id string) (keyserver.Account, error) {
	var a keyserver.Account
	var data []byte
	err := w.queryRow("SELECT data FROM accounts WHERE id = ?"+w.forUpdate(), id).Scan(&data)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return a, refusal{fmt.Errorf("account %s: %w", id, keyserver.ErrNotFound)}
	case err != nil:
		return a, fmt.Errorf("account %s: %w", id, err)
	}
	return a, decode(data, &a)
}

// UpdateAccount changes one account with fn.
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

// updateAccount is UpdateAccount inside a transaction: every refusal comes
// before the first write.
func (w *wtx) updateAccount(id string, fn func(*keyserver.Account) ([]keyserver.AuditEvent, error)) (keyserver.Account, error) {
	a, err := w.accountToWrite(id)
	if err != nil {
		return a, err
	}
	ch, err := keyserver.ChangeAccount(a, fn)
	a = ch.Account
	if err != nil {
		return a, refusal{err}
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
	if _, err := w.exec("UPDATE accounts SET data = ? WHERE id = ?", data, id); err != nil {
		return a, fmt.Errorf("update account %s: %w", id, err)
	}
	if err := w.indexCredentials(id, ch.Before, a.Credentials); err != nil {
		return a, fmt.Errorf("update account %s: %w", id, err)
	}
	if err := w.appendAudit(ch.Events); err != nil {
		return a, fmt.Errorf("update account %s: %w", id, err)
	}
	return a, nil
}

// TakeInviteCreateAccount uses up an invite and creates the account it enrols in
// one transaction, so a refused enrolment keeps its invite.
func (s *Store) TakeInviteCreateAccount(ctx context.Context, tokenHash []byte, now time.Time, a keyserver.Account, events []keyserver.AuditEvent) error {
	err := s.write(ctx, func(w *wtx) error {
		if err := w.unexpiredInvite(tokenHash, now); err != nil {
			return err
		}
		if err := w.createAccount(&a, events); err != nil {
			return err
		}
		_, err := w.exec("DELETE FROM invites WHERE token_hash = ?", tokenHash)
		return err
	})
	if err != nil {
		return fmt.Errorf("enrol: %w", err)
	}
	return nil
}

// TakeInviteUpdateAccount uses up an invite and changes the account it enrols in
// one transaction.
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
		if _, err := w.exec("DELETE FROM invites WHERE token_hash = ?", tokenHash); err != nil {
			return fmt.Errorf("take invite: %w", err)
		}
		out = a
		return nil
	})
	if err != nil {
		return keyserver.Account{}, fmt.Errorf("enrol: %w", err)
	}
	return out, nil
}

// DeleteAccount removes an account, its sessions and its credentials.
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
		for _, q := range []string{
			"DELETE FROM sessions WHERE account_id = ?",
			"DELETE FROM credentials WHERE account_id = ?",
			"DELETE FROM accounts WHERE id = ?",
		} {
			if _, err := w.exec(q, id); err != nil {
				return fmt.Errorf("delete account %s: %w", id, err)
			}
		}
		if err := w.appendAudit(events); err != nil {
			return fmt.Errorf("delete account %s: %w", id, err)
		}
		return nil
	})
}

// keepAnAdmin refuses with ErrLastAdmin unless an account other than id is an
// administrator. It runs in the write transaction that would take id's role
// away, which holds the audit head's lock (lockHead) as every write does: no
// other node's removal can pass between this read and the write. The LIKE
// only narrows the rows decoded; the decoded role decides.
func (w *wtx) keepAnAdmin(id string) error {
	rows, err := w.query(`SELECT data FROM accounts WHERE id <> ? AND data LIKE '%"role":"admin"%'`, id)
	if err != nil {
		return fmt.Errorf("find another administrator: %w", err)
	}
	defer rows.Close()
	found := false
	for rows.Next() && !found {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return fmt.Errorf("find another administrator: %w", err)
		}
		var other keyserver.Account
		if err := decode(data, &other); err != nil {
			return fmt.Errorf("find another administrator: %w", err)
		}
		found = other.Role == keyserver.RoleAdmin
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find another administrator: %w", err)
	}
	if !found {
		return refusal{keyserver.ErrLastAdmin}
	}
	return nil
}

// ListAccounts returns every account, in email order (byte order, as boltstore).
func (s *Store) ListAccounts(ctx context.Context) ([]keyserver.Account, error) {
	out, err := collect(ctx, s, "SELECT data FROM accounts ORDER BY email"+s.byteOrder(), nil, func(data []byte) (keyserver.Account, error) {
		var a keyserver.Account
		return a, decode(data, &a)
	})
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return out, nil
}

// byteOrder is the collation that orders text by its bytes: SQLite's default,
// PostgreSQL's "C".
func (s *Store) byteOrder() string {
	if s.driver == Postgres {
		return ` COLLATE "C"`
	}
	return ""
}
