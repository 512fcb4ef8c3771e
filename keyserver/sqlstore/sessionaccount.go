package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/waxseal/waxseal/keyserver"
)

// SessionAccount reads a session and its account in one statement.
func (s *Store) SessionAccount(ctx context.Context, tokenHash []byte) (keyserver.Session, *keyserver.Account, error) {
	var sessData []byte
	var acct []byte
	err := s.queryRow(ctx, `SELECT sessions.data, accounts.data FROM sessions
		LEFT JOIN accounts ON accounts.id = sessions.account_id WHERE sessions.token_hash = ?`, tokenHash).Scan(&sessData, &acct)
	if errors.Is(err, sql.ErrNoRows) {
		err = keyserver.ErrNotFound
	}
	var sess keyserver.Session
	if err == nil {
		err = decode(sessData, &sess)
	}
	if err != nil {
		return keyserver.Session{}, nil, fmt.Errorf("session: %w", err)
	}
	if acct == nil {
		return sess, nil, nil
	}
	var a keyserver.Account
	if err := decode(acct, &a); err != nil {
		return keyserver.Session{}, nil, fmt.Errorf("session account: %w", err)
	}
	return sess, &a, nil
}
