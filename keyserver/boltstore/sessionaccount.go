package boltstore

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/waxseal/waxseal/keyserver"
)

// SessionAccount reads a session and its account in one read transaction.
func (s *Store) SessionAccount(ctx context.Context, tokenHash []byte) (keyserver.Session, *keyserver.Account, error) {
	var sess keyserver.Session
	var acct *keyserver.Account
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := getMemo(s.memos.sessions, tx.Bucket(bucketSessions), tokenHash, &sess)
		if err != nil {
			return err
		}
		if !found {
			return keyserver.ErrNotFound
		}
		var a keyserver.Account
		switch err := s.getAccount(tx, sess.AccountID, &a); {
		case errors.Is(err, keyserver.ErrNotFound):
		case err != nil:
			return err
		default:
			acct = &a
		}
		return nil
	})
	if err != nil {
		return keyserver.Session{}, nil, fmt.Errorf("session: %w", err)
	}
	return sess, acct, nil
}
