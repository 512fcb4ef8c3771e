package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Migrations are versioned SQL files embedded in the binary, one directory per
// database (their types differ): migrations/DRIVER/NNNN_name.sql, applied in
// order, each in a transaction of its own with its row in schema_migrations.
// A small migrator of our own rather than a library: the well-kept ones
// (golang-migrate, goose) bring drivers and dependencies for many databases,
// and this needs twenty lines: apply the files not yet recorded, refuse a
// database that records one this build does not know.
//
//go:embed migrations
var migrationFiles embed.FS

// ErrSchemaTooNew is returned for a database migrated by a newer build: this
// one could misread or corrupt what it does not know.
var ErrSchemaTooNew = errors.New("database schema is newer than this build knows")

type migration struct {
	version int
	name    string
	sql     string
}

func migrations(driver Driver) ([]migration, error) {
	dir := path.Join("migrations", string(driver))
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s: want NNNN_name.sql", e.Name())
		}
		data, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(data)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migrations: %s out of sequence", m.name)
		}
	}
	return out, nil
}

// LatestVersion is the schema version this build writes.
func LatestVersion(driver Driver) int {
	ms, _ := migrations(driver)
	return len(ms)
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version integer PRIMARY KEY,
	name    text NOT NULL,
	applied text NOT NULL
)`

// SchemaVersion returns the database's schema version: 0 for an empty one.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	return schemaVersion(ctx, s.db, s)
}

func schemaVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, s *Store) (int, error) {
	var exists int
	var probe string
	switch s.driver {
	case Postgres:
		probe = "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'"
	default:
		probe = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
	}
	if err := q.QueryRowContext(ctx, probe).Scan(&exists); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	if exists == 0 {
		return 0, nil
	}
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return int(v.Int64), nil
}

// Migrate applies the migrations the database lacks and returns how many. It is
// safe to run from several nodes at once: on PostgreSQL a transaction-scoped
// advisory lock lets one migrate while the others wait, then find nothing to
// do; on SQLite the write lock does the same.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	ms, err := migrations(s.driver)
	if err != nil {
		return 0, err
	}
	applied := 0
	for {
		done := false
		err := withTx(ctx, s.db, func(tx *sql.Tx) error {
			if s.driver == Postgres {
				// Any constant: the key waxseal's migrations agree on.
				if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(7760001)"); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, createMigrationsTable); err != nil {
				return err
			}
			v, err := schemaVersion(ctx, tx, s)
			if err != nil {
				return err
			}
			if v > len(ms) {
				return fmt.Errorf("%w: version %d, this build knows %d", ErrSchemaTooNew, v, len(ms))
			}
			if v == len(ms) {
				done = true
				return nil
			}
			m := ms[v]
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			_, err = tx.ExecContext(ctx, s.q("INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)"),
				m.version, m.name, time.Now().UTC().Format(time.RFC3339))
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("migrate %s store: %w", s.driver, Redact(err))
		}
		if done {
			return applied, nil
		}
		applied++
	}
}

// checkSchema refuses a database that is not at this build's version.
func (s *Store) checkSchema(ctx context.Context) error {
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("open %s store: %w", s.driver, Redact(err))
	}
	latest := LatestVersion(s.driver)
	switch {
	case v > latest:
		return fmt.Errorf("open %s store: %w: version %d, this build knows %d", s.driver, ErrSchemaTooNew, v, latest)
	case v < latest:
		return fmt.Errorf("open %s store: schema version %d, this build needs %d: run `waxseal migrate` (or set [store] migrate = true)", s.driver, v, latest)
	}
	return nil
}
