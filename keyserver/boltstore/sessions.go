package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/waxseal/waxseal/keyserver"
)

func codeKey(email string, purpose keyserver.CodePurpose) ([]byte, error) {
	k, err := addrKey(email)
	if err != nil {
		return nil, fmt.Errorf("code for %w", err)
	}
	return append(k, purpose...), nil
}

// PutCode stores c, replacing any code for the same email and purpose.
func (s *Store) PutCode(ctx context.Context, c keyserver.Code) error {
	return s.write(ctx, func(tx *bolt.Tx) error {
		k, err := codeKey(c.Email, c.Purpose)
		if err != nil {
			return refusal{err}
		}
		if err := put(tx.Bucket(bucketCodes), k, c); err != nil {
			return fmt.Errorf("put code: %w", err)
		}
		return nil
	})
}

// UpdateCode changes one code with fn.
func (s *Store) UpdateCode(ctx context.Context, email string, purpose keyserver.CodePurpose, fn func(*keyserver.Code) error) (keyserver.Code, error) {
	var out keyserver.Code
	err := s.write(ctx, func(tx *bolt.Tx) error {
		k, err := codeKey(email, purpose)
		if err != nil {
			return refusal{err}
		}
		b := tx.Bucket(bucketCodes)
		var c keyserver.Code
		found, err := get(b, k, &c)
		switch {
		case err != nil:
			return fmt.Errorf("code %s %s: %w", purpose, email, err)
		case !found:
			return refusal{fmt.Errorf("code %s %s: %w", purpose, email, keyserver.ErrNotFound)}
		}
		if err := fn(&c); err != nil {
			return refusal{err}
		}
		if c.Email != email || c.Purpose != purpose {
			return refusal{fmt.Errorf("update code %s %s: fn changed the email or purpose", purpose, email)}
		}
		if err := put(b, k, c); err != nil {
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
	return s.write(ctx, func(tx *bolt.Tx) error {
		k, err := codeKey(email, purpose)
		if err != nil {
			return refusal{err}
		}
		if err := tx.Bucket(bucketCodes).Delete(k); err != nil {
			return fmt.Errorf("delete code %s %s: %w", purpose, email, err)
		}
		return nil
	})
}

// sessionIndexKey is the session's entry in the per-account index.
func sessionIndexKey(accountID string, tokenHash []byte) ([]byte, error) {
	k, err := addrKey(accountID)
	if err != nil {
		return nil, fmt.Errorf("session account %w", err)
	}
	return append(k, tokenHash...), nil
}

// PutSession stores a session under its token hash.
func (s *Store) PutSession(ctx context.Context, sess keyserver.Session) error {
	return s.write(ctx, func(tx *bolt.Tx) error {
		if len(sess.TokenHash) == 0 {
			return refusal{errors.New("put session: no token hash")}
		}
		ix, err := sessionIndexKey(sess.AccountID, sess.TokenHash)
		if err != nil {
			return refusal{err}
		}
		// A session stored again under another account must leave the old
		// account's index.
		oldIx, err := storedSessionIndexKey(tx, sess.TokenHash)
		if err := errors.Join(
			err,
			putMemo(s.memos.sessions, tx.Bucket(bucketSessions), sess.TokenHash, &sess),
			putIndex(tx.Bucket(bucketSessionsByAcct), oldIx, ix),
		); err != nil {
			return fmt.Errorf("put session: %w", err)
		}
		return nil
	})
}

// storedSessionIndexKey is the index key of the session stored under tokenHash,
// nil if there is none.
func storedSessionIndexKey(tx *bolt.Tx, tokenHash []byte) ([]byte, error) {
	var old keyserver.Session
	found, err := get(tx.Bucket(bucketSessions), tokenHash, &old)
	if err != nil || !found {
		return nil, err
	}
	return sessionIndexKey(old.AccountID, old.TokenHash)
}

// Session returns a session by token hash.
func (s *Store) Session(ctx context.Context, tokenHash []byte) (keyserver.Session, error) {
	var sess keyserver.Session
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := getMemo(s.memos.sessions, tx.Bucket(bucketSessions), tokenHash, &sess)
		if err == nil && !found {
			err = keyserver.ErrNotFound
		}
		return err
	})
	if err != nil {
		return keyserver.Session{}, fmt.Errorf("session: %w", err)
	}
	return sess, nil
}

// TouchSession sets a session's LastSeen.
func (s *Store) TouchSession(ctx context.Context, tokenHash []byte, at time.Time) error {
	return s.write(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		var sess keyserver.Session
		found, err := getMemo(s.memos.sessions, b, tokenHash, &sess)
		switch {
		case err != nil:
			return fmt.Errorf("touch session: %w", err)
		case !found:
			return refusal{fmt.Errorf("touch session: %w", keyserver.ErrNotFound)}
		}
		sess.LastSeen = at
		if err := putMemo(s.memos.sessions, b, tokenHash, &sess); err != nil {
			return fmt.Errorf("touch session: %w", err)
		}
		return nil
	})
}

// DeleteSession removes a session, if there is one.
func (s *Store) DeleteSession(ctx context.Context, tokenHash []byte) error {
	return s.write(ctx, func(tx *bolt.Tx) error {
		var sess keyserver.Session
		found, err := get(tx.Bucket(bucketSessions), tokenHash, &sess)
		if err == nil && found {
			err = deleteSession(tx, &sess)
		}
		if err != nil {
			return fmt.Errorf("delete session: %w", err)
		}
		return nil
	})
}

func deleteSession(tx *bolt.Tx, sess *keyserver.Session) error {
	ix, err := sessionIndexKey(sess.AccountID, sess.TokenHash)
	return errors.Join(
		err,
		tx.Bucket(bucketSessions).Delete(sess.TokenHash),
		tx.Bucket(bucketSessionsByAcct).Delete(ix),
	)
}

// DeleteAccountSessions removes every session of an account but except, found
// through the per-account index.
func (s *Store) DeleteAccountSessions(ctx context.Context, accountID string, except []byte) (int, error) {
	var n int
	err := s.write(ctx, func(tx *bolt.Tx) error {
		var err error
		n, err = deleteAccountSessions(tx, accountID, except)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete sessions of %s: %w", accountID, err)
	}
	return n, nil
}

func deleteAccountSessions(tx *bolt.Tx, accountID string, except []byte) (int, error) {
	prefix, err := addrKey(accountID)
	if err != nil {
		return 0, err
	}
	index, sessions := tx.Bucket(bucketSessionsByAcct), tx.Bucket(bucketSessions)
	// Collect first: deleting under a bbolt cursor can make it skip keys.
	var keys [][]byte
	c := index.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if except != nil && bytes.Equal(k[len(prefix):], except) {
			continue
		}
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := errors.Join(sessions.Delete(k[len(prefix):]), index.Delete(k)); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// DeleteSessionsBefore removes sessions last seen before t and codes expired
// before t. It reads every session and code: it runs from a periodic sweep, and an
// index on LastSeen would cost a write on every TouchSession.
func (s *Store) DeleteSessionsBefore(ctx context.Context, t time.Time) (int, error) {
	var n int
	err := s.write(ctx, func(tx *bolt.Tx) error {
		var err error
		if n, err = deleteStaleSessions(tx, t); err != nil {
			return err
		}
		return errors.Join(
			deleteExpiredCodes(tx, t),
			deleteExpired[keyserver.Ceremony](tx.Bucket(bucketCeremonies), t, func(c *keyserver.Ceremony) time.Time { return c.Expires }),
			deleteExpired[keyserver.Invite](tx.Bucket(bucketInvites), t, func(i *keyserver.Invite) time.Time { return i.Expires }),
		)
	})
	if err != nil {
		return 0, fmt.Errorf("delete sessions before %s: %w", t, err)
	}
	return n, nil
}

func deleteStaleSessions(tx *bolt.Tx, t time.Time) (int, error) {
	var stale []keyserver.Session
	err := tx.Bucket(bucketSessions).ForEach(func(k, v []byte) error {
		var sess keyserver.Session
		if err := decode(k, v, &sess); err != nil {
			return err
		}
		if sess.LastSeen.Before(t) {
			stale = append(stale, sess)
		}
		return nil
	})
	for i := 0; err == nil && i < len(stale); i++ {
		err = deleteSession(tx, &stale[i])
	}
	return len(stale), err
}

func deleteExpiredCodes(tx *bolt.Tx, t time.Time) error {
	b := tx.Bucket(bucketCodes)
	var expired [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var c keyserver.Code
		if err := decode(k, v, &c); err != nil {
			return err
		}
		if c.Expires.Before(t) {
			expired = append(expired, bytes.Clone(k))
		}
		return nil
	})
	for i := 0; err == nil && i < len(expired); i++ {
		err = b.Delete(expired[i])
	}
	return err
}
