package sqlstore_test

import (
	"database/sql"
	"net/url"
	"testing"

	"github.com/waxseal/waxseal/keyserver/sqlstore"
)

// TestLeaderAcrossNodes: of two stores on one PostgreSQL schema (two key
// server nodes), one leads at a time; an installation in another schema leads
// on its own; and when the leader's session ends (its node died), its lead
// is gone: Check says so, and the other node takes it.
func TestLeaderAcrossNodes(t *testing.T) {
	ctx := t.Context()
	dsn := freshSchema(t)
	open := func(dsn string) *sqlstore.Store {
		s, err := sqlstore.Open(ctx, sqlstore.Postgres, dsn, sqlstore.Options{Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b, other := open(dsn), open(dsn), open(freshSchema(t))

	la, ok, err := a.TryLead(ctx)
	if err != nil || !ok {
		t.Fatalf("a: TryLead: %v, %v", ok, err)
	}
	if _, ok, err := b.TryLead(ctx); err != nil || ok {
		t.Fatalf("b led while a did: %v, %v", ok, err)
	}
	lo, ok, err := other.TryLead(ctx)
	if err != nil || !ok {
		t.Fatalf("another installation could not lead: %v, %v", ok, err)
	}
	lo.Release()
	la.Release()
	lb, ok, err := b.TryLead(ctx)
	if err != nil || !ok {
		t.Fatalf("b after a released: %v, %v", ok, err)
	}

	// b's node dies: the session holding this installation's lock is ended
	// from outside (only it: other tests share the cluster). The terminate
	// waits until the session is gone: its client sees the socket close
	// before the server has released the session's locks, so without the
	// wait a could still find the lock held (seen once in CI).
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sql.Open("pgx", postgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var ended int
	if err := admin.QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 1
		AND objid = (hashtext($1 || '.waxseal.leader')::bigint & 4294967295)::oid
		AND classid = ((hashtext($1 || '.waxseal.leader')::bigint >> 32) & 4294967295)::oid`,
		u.Query().Get("search_path")).Scan(&ended); err != nil || ended != 1 {
		t.Fatalf("ending the leader's session: %d sessions, %v", ended, err)
	}
	if err := lb.Check(ctx); err == nil {
		t.Fatal("Check: the lead holds after its session ended")
	}
	lb.Release()
	la, ok, err = a.TryLead(ctx)
	if err != nil || !ok {
		t.Fatalf("a after b's session ended: %v, %v", ok, err)
	}
	la.Release()
}
