package sqlstore_test

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
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

func TestMigrations(t *testing.T) {
	for _, tc := range []struct {
		name   string
		driver sqlstore.Driver
		dsn    func(t *testing.T) string
	}{
		{"sqlite", sqlstore.SQLite, func(t *testing.T) string { return filepath.Join(t.TempDir(), "m.sqlite") }},
		{"postgres", sqlstore.Postgres, func(t *testing.T) string { return freshSchema(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := tc.dsn(t)
			// An empty database is refused without Migrate: it needs `waxseal migrate`.
			if _, err := sqlstore.Open(ctx, tc.driver, dsn, sqlstore.Options{}); err == nil || !strings.Contains(err.Error(), "waxseal migrate") {
				t.Fatalf("open of an empty database without Migrate: %v", err)
			}
			s, err := sqlstore.Open(ctx, tc.driver, dsn, sqlstore.Options{Migrate: true})
			if err != nil {
				t.Fatal(err)
			}
			v, err := s.SchemaVersion(ctx)
			if err != nil || v != sqlstore.LatestVersion(tc.driver) || v < 2 {
				t.Fatalf("schema version %d (%v), want %d", v, err, sqlstore.LatestVersion(tc.driver))
			}
			if n, err := s.Migrate(ctx); n != 0 || err != nil {
				t.Errorf("second Migrate applied %d (%v), want none", n, err)
			}
			// A newer build has been here: refused, with or without Migrate.
			q := "INSERT INTO schema_migrations (version, name, applied) VALUES (999, '0999_future.sql', 'x')"
			if _, err := s.DB().ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
			s.Close()
			for _, migrate := range []bool{false, true} {
				if _, err := sqlstore.Open(ctx, tc.driver, dsn, sqlstore.Options{Migrate: migrate}); !errors.Is(err, sqlstore.ErrSchemaTooNew) {
					t.Errorf("open (migrate %t) of a newer schema: %v, want ErrSchemaTooNew", migrate, err)
				}
			}
		})
	}
}

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"dial postgres://waxseal:s3cret@db:5432/x?sslmode=disable: refused": "dial postgres://waxseal:REDACTED@db:5432/x?sslmode=disable: refused",
		"host=db user=waxseal password=s3cret dbname=x":                     "host=db user=waxseal password=REDACTED dbname=x",
		"postgres://waxseal@db/x":                                           "postgres://waxseal@db/x",
	} {
		if got := sqlstore.RedactDSN(in); got != want {
			t.Errorf("RedactDSN(%q) = %q, want %q", in, got, want)
		}
	}
}
