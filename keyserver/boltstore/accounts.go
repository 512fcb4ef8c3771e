package boltstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/waxseal/waxseal/keyserver"
)

// CreateAccount stores a new account; ErrConflict if its email or id is taken.
func (s *Store) CreateAccount(ctx context.Context, a keyserver.Account, events []keyserver.AuditEvent) error {
	return s.write(ctx, func(tx *bolt.Tx) error {
		if err := checkNewAccount(tx, &a); err != nil {
			return refusal{err}
		}
		if err := indexCredentials(tx, a.ID, nil, a.Credentials); err != nil {
			return err
		}
		if err := errors.Join(
			put(tx.Bucket(bucketAccounts), []byte(a.ID), a),
			tx.Bucket(bucketAccountByEmail).Put([]byte(a.Email), []byte(a.ID)),
			s.appendAudit(tx, events),
		); err != nil {
			return fmt.Errorf("create account %s: %w", a.ID, err)
		}
		return nil
	})
}

func checkNewAccount(tx *bolt.Tx, a *keyserver.Account) error {
	switch {
	case a.ID == "" || a.Email == "":
		return fmt.Errorf("create account: id and email are required")
	case len(a.ID) > maxAddrLen || len(a.Email) > maxAddrLen:
		return fmt.Errorf("create account: id or email longer than %d bytes", maxAddrLen)
	case tx.Bucket(bucketAccountByEmail).Get([]byte(a.Email)) != nil:
		return fmt.Errorf("create account: email %s: %w", a.Email, keyserver.ErrConflict)
	case tx.Bucket(bucketAccounts).Get([]byte(a.ID)) != nil:
		return fmt.Errorf("create account: id %s: %w", a.ID, keyserver.ErrConflict)
	}
	return nil
}

// Account returns an account by id.
func (s *Store) Account(ctx context.Context, id string) (keyserver.Account, error) {
	var a keyserver.Account
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return s.getAccount(tx, id, &a)
	})
	if err != nil {
		return keyserver.Account{}, fmt.Errorf("account %s: %w", id, err)
	}
	return a, nil
}

// AccountByEmail returns an account by its normalized email.
func (s *Store) AccountByEmail(ctx context.Context, email string) (keyserver.Account, error) {
	var a keyserver.Account
	err := s.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketAccountByEmail).Get([]byte(email))
		if id == nil {
			return keyserver.ErrNotFound
		}
		return s.getAccount(tx, string(id), &a)
	})
	if err != nil {
		return keyserver.Account{}, fmt.Errorf("account %s: %w", email, err)
	}
	return a, nil
}

func (s *Store) getAccount(tx *bolt.Tx, id string, a *keyserver.Account) error {
	found, err := getMemo(s.memos.accounts, tx.Bucket(bucketAccounts), []byte(id), a)
	if err == nil && !found {
		err = keyserver.ErrNotFound
	}
	return err
}

// accountToWrite reads the account a write is about; its absence is a refusal.
func (s *Store) accountToWrite(tx *bolt.Tx, id string) (keyserver.Account, error) {
	var a keyserver.Account
	err := s.getAccount(tx, id, &a)
	switch {
	case errors.Is(err, keyserver.ErrNotFound):
		return a, refusal{fmt.Errorf("account %s: %w", id, err)}
	case err != nil:
		return a, fmt.Errorf("account %s: %w", id, err)
	}
	return a, nil
}

// UpdateAccount changes one account with fn, in a commit shared with concurrent
// writes (sign-ins update accounts often).
func (s *Store) UpdateAccount(ctx context.Context, id string, fn func(*keyserver.Account) ([]keyserver.AuditEvent, error)) (keyserver.Account, error) {
	var out keyserver.Account
	err := s.write(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = s.updateAccount(tx, id, fn)
		return err
	})
	if err != nil {
		return keyserver.Account{}, err
	}
	return out, nil
}

// updateAccount is UpdateAccount inside a transaction: every refusal comes
// before the first write.
func (s *Store) updateAccount(tx *bolt.Tx, id string, fn func(*keyserver.Account) ([]keyserver.AuditEvent, error)) (keyserver.Account, error) {
	a, err := s.accountToWrite(tx, id)
	if err != nil {
		return a, err
	}
	ch, err := keyserver.ChangeAccount(a, fn)
	a = ch.Account
	if err != nil {
		return a, refusal{err}
	}
	if ch.LeftAdmin {
		if err := s.keepAnAdmin(tx, id); err != nil {
			return a, err
		}
	}
	if err := indexCredentials(tx, id, ch.Before, a.Credentials); err != nil {
		return a, err
	}
	if err := errors.Join(putMemo(s.memos.accounts, tx.Bucket(bucketAccounts), []byte(id), &a), s.appendAudit(tx, ch.Events)); err != nil {
		return a, fmt.Errorf("update account %s: %w", id, err)
	}
	return a, nil
}

// TakeInviteCreateAccount uses up an invite and creates the account it enrols in
// one transaction, so a refused enrolment keeps its invite.
func (s *Store) TakeInviteCreateAccount(ctx context.Context, tokenHash []byte, now time.Time, a keyserver.Account, events []keyserver.AuditEvent) error {
	err := s.write(ctx, func(tx *bolt.Tx) error {
		if err := unexpiredInvite(tx, tokenHash, now); err != nil {
			return err
		}
		if err := checkNewAccount(tx, &a); err != nil {
			return refusal{err}
		}
		if err := indexCredentials(tx, a.ID, nil, a.Credentials); err != nil {
			return err
		}
		if err := errors.Join(
			tx.Bucket(bucketInvites).Delete(tokenHash),
			put(tx.Bucket(bucketAccounts), []byte(a.ID), a),
			tx.Bucket(bucketAccountByEmail).Put([]byte(a.Email), []byte(a.ID)),
			s.appendAudit(tx, events),
		); err != nil {
			return fmt.Errorf("create account %s: %w", a.ID, err)
		}
		return nil
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
	err := s.write(ctx, func(tx *bolt.Tx) error {
		if err := unexpiredInvite(tx, tokenHash, now); err != nil {
			return err
		}
		a, err := s.updateAccount(tx, id, fn)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketInvites).Delete(tokenHash); err != nil {
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

// DeleteAccount removes an account and its sessions; ErrNotFound if there is no
// such account.
func (s *Store) DeleteAccount(ctx context.Context, id string, events []keyserver.AuditEvent) error {
	return s.write(ctx, func(tx *bolt.Tx) error {
		a, err := s.accountToWrite(tx, id)
		if err != nil {
			return err
		}
		if a.Role == keyserver.RoleAdmin {
			if err := s.keepAnAdmin(tx, id); err != nil {
				return err
			}
		}
		_, err = deleteAccountSessions(tx, id, nil)
		if err := errors.Join(
			err,
			indexCredentials(tx, id, a.Credentials, nil),
			tx.Bucket(bucketAccounts).Delete([]byte(id)),
			tx.Bucket(bucketAccountByEmail).Delete([]byte(a.Email)),
			s.appendAudit(tx, events),
		); err != nil {
			return fmt.Errorf("delete account %s: %w", id, err)
		}
		return nil
	})
}

// keepAnAdmin refuses with ErrLastAdmin unless an account other than id is an
// administrator. It runs in the write transaction that would take id's role
// away: bbolt has one writer, so no other removal can pass meanwhile. It reads
// every account, which is rare enough (administrators are seldom removed).
func (s *Store) keepAnAdmin(tx *bolt.Tx, id string) error {
	found := false
	err := tx.Bucket(bucketAccounts).ForEach(func(k, _ []byte) error {
		if found || string(k) == id {
			return nil
		}
		var other keyserver.Account
		if err := s.getAccount(tx, string(k), &other); err != nil {
			return fmt.Errorf("account %s: %w", k, err)
		}
		found = other.Role == keyserver.RoleAdmin
		return nil
	})
	switch {
	case err != nil:
		return err
	case !found:
		return refusal{keyserver.ErrLastAdmin}
	}
	return nil
}

// ListAccounts returns every account, in email order (the email index's order).
func (s *Store) ListAccounts(ctx context.Context) ([]keyserver.Account, error) {
	var out []keyserver.Account
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAccountByEmail).ForEach(func(_, id []byte) error {
			var a keyserver.Account
			if err := s.getAccount(tx, string(id), &a); err != nil {
				return fmt.Errorf("account %s: %w", id, err)
			}
			out = append(out, a)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return out, nil
}

// indexCredentials moves the credential index of account id from the credentials
// in old to those in cur. A credential id another account holds is a refusal
// wrapping ErrConflict, checked before anything is written.
func indexCredentials(tx *bolt.Tx, id string, old, cur []keyserver.Credential) error {
	b := tx.Bucket(bucketCredentials)
	seen := map[string]bool{}
	for _, c := range cur {
		if len(c.ID) == 0 || len(c.ID) > maxAddrLen {
			return refusal{fmt.Errorf("account %s: credential id of %d bytes", id, len(c.ID))}
		}
		if seen[string(c.ID)] {
			return refusal{fmt.Errorf("account %s: credential listed twice: %w", id, keyserver.ErrConflict)}
		}
		seen[string(c.ID)] = true
		if owner := b.Get(c.ID); owner != nil && string(owner) != id {
			return refusal{fmt.Errorf("account %s: credential held by another account: %w", id, keyserver.ErrConflict)}
		}
	}
	for _, c := range old {
		if !seen[string(c.ID)] {
			if err := b.Delete(c.ID); err != nil {
				return err
			}
		}
	}
	for _, c := range cur {
		if err := b.Put(c.ID, []byte(id)); err != nil {
			return err
		}
	}
	return nil
}

// AccountByCredential returns the account holding a passkey, through the
// credential index.
func (s *Store) AccountByCredential(ctx context.Context, credentialID []byte) (keyserver.Account, error) {
	var a keyserver.Account
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if len(credentialID) == 0 {
			return keyserver.ErrNotFound
		}
		id := tx.Bucket(bucketCredentials).Get(credentialID)
		if id == nil {
			return keyserver.ErrNotFound
		}
		return s.getAccount(tx, string(id), &a)
	})
	if err != nil {
		return keyserver.Account{}, fmt.Errorf("account by credential: %w", err)
	}
	return a, nil
}
