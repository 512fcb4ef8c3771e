package sqlstore_test

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/sqlstore"
	"github.com/waxseal/waxseal/keyserver/storetest"
)

func openSQLite(t testing.TB) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), sqlstore.SQLite, filepath.Join(t.TempDir(), "waxseal.sqlite"), sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// postgresDSN is the test cluster's DSN from WAXSEAL_TEST_POSTGRES (make test
// starts one: internal/pgtest). In CI its absence fails the test: the SQL store
// must not go untested there.
func postgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("WAXSEAL_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("WAXSEAL_TEST_POSTGRES is not set in CI: run the tests through `make test`, which starts a PostgreSQL cluster")
		}
		t.Skip("WAXSEAL_TEST_POSTGRES not set: skipping PostgreSQL (`make test` starts a throwaway cluster)")
	}
	return dsn
}

// freshSchema creates an empty schema in the test cluster and returns a DSN
// whose connections use it, dropping it when t ends.
func freshSchema(t testing.TB) string {
	t.Helper()
	dsn := postgresDSN(t)
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	name := "t_" + randHex()
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + name + " CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("WAXSEAL_TEST_POSTGRES must be a URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

func randHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func openPostgres(t testing.TB) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), sqlstore.Postgres, freshSchema(t), sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContractSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) keyserver.Store { return openSQLite(t) })
}

func TestContractPostgres(t *testing.T) {
	postgresDSN(t)
	storetest.Run(t, func(t *testing.T) keyserver.Store { return openPostgres(t) })
}
