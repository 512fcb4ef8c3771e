package keyserver

import "context"

// SessionAccountStore reads a session and its account together: every signed-in
// request needs both, and on a database server that is one round trip instead
// of two (the release path's reads on PostgreSQL; docs/BENCHMARKS.md). Both are
// read afresh from the store, never cached, so that a sign-out, a disabled
// account or a revoke on one node holds on every other at once.
type SessionAccountStore interface {
	// SessionAccount returns the session with this token hash and its account
	// (nil if the account is gone), as one consistent read; ErrNotFound if
	// there is no such session.
	SessionAccount(ctx context.Context, tokenHash []byte) (Session, *Account, error)
}
