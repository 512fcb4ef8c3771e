package keyserver_test

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/sqlstore"
)

// BenchmarkReleaseStore is BenchmarkRelease on each store in one run: bbolt,
// SQLite and PostgreSQL (the cluster in WAXSEAL_TEST_POSTGRES; skipped without
// one), 16 and 64 clients. docs/BENCHMARKS.md has the figures; reproduce with
// `internal/pgtest/with-postgres go test -run '^$' -bench ReleaseStore ./keyserver/`.
func BenchmarkReleaseStore(b *testing.B) {
	for _, store := range []string{"bolt", "sqlite", "postgres"} {
		for _, clients := range []int{16, 64} {
			b.Run(fmt.Sprintf("store=%s/clients=%d", store, clients), func(b *testing.B) {
				var e *env
				switch store {
				case "bolt":
					e = newEnv(b)
				case "sqlite":
					e = newEnvOnSQL(b, sqlstore.SQLite, filepath.Join(b.TempDir(), "waxseal.sqlite"))
				case "postgres":
					dsn := os.Getenv("WAXSEAL_TEST_POSTGRES")
					if dsn == "" {
						b.Skip("WAXSEAL_TEST_POSTGRES not set")
					}
					e = newEnvOnSQL(b, sqlstore.Postgres, benchSchema(b, dsn))
				}
				benchLoad(b, e, clients, func(hc *http.Client, i int64, sess *releaser) error {
					return sess.release(hc, i)
				})
			})
		}
	}
}

// newEnvOnSQL is newEnv with the service on a SQL store.
func newEnvOnSQL(b testing.TB, driver sqlstore.Driver, dsn string) *env {
	s, err := sqlstore.Open(b.Context(), driver, dsn, sqlstore.Options{Migrate: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	e := newEnvOver(b, func(keyserver.Store) keyserver.Store { return s })
	e.served = s
	return e
}

// benchSchema creates an empty schema for one benchmark and returns a DSN using
// it.
func benchSchema(b testing.TB, dsn string) string {
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	raw := make([]byte, 8)
	rand.Read(raw)
	name := "bench_" + hex.EncodeToString(raw)
	if _, err := admin.Exec("CREATE SCHEMA " + name); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if admin, err := sql.Open("pgx", dsn); err == nil {
			admin.Exec("DROP SCHEMA " + name + " CASCADE")
			admin.Close()
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		b.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// BenchmarkReleaseNodes is BenchmarkReleaseStore on PostgreSQL with one key
// server node and with two (each with its own store and connection pool, the
// clients' requests alternating between them), in one run: what a second node
// does to one PostgreSQL on the same machine. Reproduce with
// `internal/pgtest/with-postgres go test -run '^$' -bench ReleaseNodes -benchtime 5000x ./keyserver/`.
func BenchmarkReleaseNodes(b *testing.B) {
	dsn := os.Getenv("WAXSEAL_TEST_POSTGRES")
	if dsn == "" {
		b.Skip("WAXSEAL_TEST_POSTGRES not set")
	}
	for _, nodes := range []int{1, 2} {
		for _, clients := range []int{16, 64} {
			b.Run(fmt.Sprintf("nodes=%d/clients=%d", nodes, clients), func(b *testing.B) {
				schema := benchSchema(b, dsn)
				e := newEnvOnSQL(b, sqlstore.Postgres, schema)
				var second *env
				if nodes == 2 {
					second = newEnvOnSQL(b, sqlstore.Postgres, schema)
				}
				benchLoad(b, e, clients, func(hc *http.Client, i int64, sess *releaser) error {
					if second != nil && i%2 == 1 {
						other := *sess
						other.url = second.srv.URL
						return other.release(hc, i)
					}
					return sess.release(hc, i)
				})
			})
		}
	}
}

// BenchmarkReleasePool is BenchmarkReleaseStore on PostgreSQL at 64 clients
// with the read connection pool (Options.MaxOpenConns; the committer has one
// connection of its own) and the group commit's cap (Options.MaxBatchSize) set
// to each of a few sizes, for tuning their defaults on a small machine.
// Reproduce with
// `internal/pgtest/with-postgres go test -run '^$' -bench ReleasePool -benchtime 3000x ./keyserver/`.
func BenchmarkReleasePool(b *testing.B) {
	dsn := os.Getenv("WAXSEAL_TEST_POSTGRES")
	if dsn == "" {
		b.Skip("WAXSEAL_TEST_POSTGRES not set")
	}
	for _, batch := range []int{16, 64, 256} {
		for _, conns := range []int{4, 8, 16, 32, 64} {
			b.Run(fmt.Sprintf("batch=%d/conns=%d", batch, conns), func(b *testing.B) {
				s, err := sqlstore.Open(b.Context(), sqlstore.Postgres, benchSchema(b, dsn),
					sqlstore.Options{Migrate: true, MaxOpenConns: conns, MaxBatchSize: batch})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				e := newEnvOver(b, func(keyserver.Store) keyserver.Store { return s })
				e.served = s
				benchLoad(b, e, 64, func(hc *http.Client, i int64, sess *releaser) error {
					return sess.release(hc, i)
				})
			})
		}
	}
}
