// Package sqlstore is the keyserver.Store on a SQL database: PostgreSQL (through
// pgx's database/sql driver), for key server nodes sharing one database, or
// SQLite (modernc.org/sqlite, pure Go), the single-node SQL option.
//
// Records are JSON text beside the few columns that queries select and order by
// (migrations/): the same records boltstore keeps, so that `waxseal store copy`
// moves them unchanged. Every time in a column is fixed-width UTC text with
// nanoseconds (timeKey), so that text order is time order and nothing rounds;
// the records keep each time with its zone. Text, not int64 nanoseconds, because
// Cloudflare D1 returns large integers as doubles.
//
// Writes go through a group commit (committer.go): one goroutine runs the write
// transactions, each holding the writes that queued meanwhile, so that several
// key releases and their audit records cost one commit. Every write transaction
// first locks the audit chain's head row (SELECT … FOR UPDATE on PostgreSQL;
// SQLite's write lock, taken by BEGIN IMMEDIATE, covers it), which serialises
// appends to the chain across processes and, since it is always the first lock
// taken, orders every write transaction's locks the same way.
//
// Every write path is written as: read what it depends on, decide in Go (fn),
// then issue a short list of writes that need no result from one another. That
// is what a store without interactive transactions (Cloudflare D1) needs: it can
// do the reads, run fn, and send the writes as one atomic batch led by guard
// statements (the audit head's expected seq, the record's expected old value)
// that abort the batch if anything it read has changed; it then reads again and
// runs fn again, which the Store contract allows (fn may run more than once).
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/internal/sqltext"
)

// Driver names a database kind, as [store] driver in the configuration does.
type Driver string

const (
	Postgres Driver = "postgres"
	SQLite   Driver = "sqlite"
)

// Options tune the store; the zero value is sensible.
type Options struct {
	// MaxBatchSize caps the writes sharing one transaction (default 256).
	MaxBatchSize int
	// Migrate applies pending migrations at Open. Without it, Open refuses a
	// database whose schema is older than this build's (run `waxseal migrate`).
	Migrate bool
	// MaxOpenConns caps the pool of connections for reads; the committer has
	// one of its own. Default on PostgreSQL max(4, GOMAXPROCS), as pgxpool's:
	// each connection is a server process, and with many more of them than
	// cores (on a small machine running both) every group commit waits behind
	// them for a core. On a 2-core machine, 64 clients: 4–8 connections gave
	// the best releases/s and p99, 32 and 64 several times worse
	// (BenchmarkReleasePool, docs/BENCHMARKS.md). SQLite: default 16.
	MaxOpenConns int
}

// Store is a keyserver.Store on a SQL database.
type Store struct {
	db        *sql.DB // reads
	wdb       *sql.DB // the committer's write transactions: never waits for readers' connections
	driver    Driver
	committer committer
	rebound   sync.Map // query with ? → query with $n (PostgreSQL)
	// Prepared statements for reads on SQLite, which otherwise parses every
	// statement anew: a seventh of a key release's time. (Writes: wtx.stmt.)
	// Nil on PostgreSQL: pgx caches prepared statements per connection itself,
	// and database/sql's would only add a second layer.
	readStmts *stmtCache
	lead      keyserver.ProcessLead
}

// stmtCache holds prepared statements by query.
type stmtCache struct {
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

const maxCachedStmts = 512

// get returns query prepared on db, or nil if it cannot be (the caller then
// runs it unprepared, and meets the error there).
func (c *stmtCache) get(ctx context.Context, db *sql.DB, query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.stmts[query]; ok {
		return st
	}
	if len(c.stmts) >= maxCachedStmts {
		return nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if c.stmts == nil {
		c.stmts = map[string]*sql.Stmt{}
	}
	c.stmts[query] = st
	return st
}

func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.stmts {
		st.Close()
	}
	c.stmts = nil
}

var _ keyserver.Store = (*Store)(nil)

// Open connects to the database and checks (or, with opts.Migrate, brings up to
// date) its schema. For SQLite, dsn is a file path (or a file: URI); the store
// sets WAL mode, a busy timeout and immediate write transactions itself.
func Open(ctx context.Context, driver Driver, dsn string, opts Options) (*Store, error) {
	db, err := openDB(driver, dsn, opts.MaxOpenConns)
	if err != nil {
		return nil, err
	}
	wdb, err := openDB(driver, dsn, 1)
	if err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{db: db, wdb: wdb, driver: driver}
	if driver == SQLite {
		s.readStmts = &stmtCache{}
	}
	if opts.Migrate {
		if _, err := s.Migrate(ctx); err != nil {
			db.Close()
			wdb.Close()
			return nil, err
		}
	}
	if err := s.checkSchema(ctx); err != nil {
		db.Close()
		wdb.Close()
		return nil, err
	}
	max := opts.MaxBatchSize
	if max <= 0 {
		max = 256
	}
	s.committer.start(s, max)
	return s, nil
}

func openDB(driver Driver, dsn string, conns int) (*sql.DB, error) {
	var name string
	switch driver {
	case Postgres:
		name = "pgx"
	case SQLite:
		name = "sqlite"
		dsn = sqliteDSN(dsn)
	default:
		return nil, fmt.Errorf("sqlstore: unknown driver %q (want %q or %q)", driver, Postgres, SQLite)
	}
	db, err := sql.Open(name, dsn)
	if err != nil {
		// The DSN may hold a password: the error names the driver only.
		return nil, fmt.Errorf("open %s store: %w", driver, Redact(err))
	}
	if conns <= 0 {
		conns = 16
		if driver == Postgres {
			conns = max(4, runtime.GOMAXPROCS(0))
		}
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	return db, nil
}

// sqliteDSN adds the pragmas the store relies on: WAL, so that reads do not
// wait for the writer; a busy timeout, so that another process's write waits
// rather than fails; BEGIN IMMEDIATE, so that a write transaction holds the
// write lock from its start (it reads the audit head first, and a deferred one
// could not upgrade its read lock when another process wrote meanwhile); and
// full fsync on commit, as boltstore does.
func sqliteDSN(dsn string) string {
	if !strings.HasPrefix(dsn, "file:") {
		dsn = "file:" + (&url.URL{Path: dsn}).EscapedPath()
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate"
}

// Redact returns err with anything that looks like a DSN's password removed:
// drivers quote the connection string in some errors, and logs must never hold
// a database password.
func Redact(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := RedactDSN(msg)
	if red == msg {
		return err
	}
	return errors.New(red)
}

// RedactDSN hides the password in a URL-form DSN (postgres://user:pw@host/db)
// and in a keyword-form one (password=pw), wherever they occur in s.
func RedactDSN(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			break
		}
		rest := s[i+3:]
		end := strings.IndexAny(rest, " \t\n\"'/?")
		if end < 0 {
			end = len(rest)
		}
		auth := rest[:end]
		at := strings.LastIndexByte(auth, '@')
		colon := strings.IndexByte(auth, ':')
		b.WriteString(s[:i+3])
		if at >= 0 && colon >= 0 && colon < at {
			b.WriteString(auth[:colon] + ":REDACTED" + auth[at:])
		} else {
			b.WriteString(auth)
		}
		s = rest[end:]
	}
	b.WriteString(s)
	out := b.String()
	for _, key := range []string{"password=", "PASSWORD="} {
		for i := 0; ; {
			j := strings.Index(out[i:], key)
			if j < 0 {
				break
			}
			j += i + len(key)
			k := j
			for k < len(out) && out[k] != ' ' && out[k] != '&' && out[k] != '\n' {
				k++
			}
			out = out[:j] + "REDACTED" + out[k:]
			i = j + len("REDACTED")
		}
	}
	return out
}

// Close stops taking writes, lets the committer finish those queued, and closes
// the database.
func (s *Store) Close() error {
	s.committer.stop()
	s.readStmts.close()
	return errors.Join(s.wdb.Close(), s.db.Close())
}

// DB is the underlying database, for tools (store copy, tests).
func (s *Store) DB() *sql.DB { return s.db }

// Driver reports which database the store is on.
func (s *Store) Driver() Driver { return s.driver }

// q returns query with its ? placeholders numbered for PostgreSQL. Queries
// never hold a ? elsewhere.
func (s *Store) q(query string) string {
	if s.driver != Postgres {
		return query
	}
	if v, ok := s.rebound.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	s.rebound.Store(query, b.String())
	return b.String()
}

// queryRow runs a read outside any write transaction.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	q := s.q(query)
	if st := s.readStmts.get(ctx, s.db, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.db.QueryRowContext(ctx, q, args...)
}

func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q := s.q(query)
	if st := s.readStmts.get(ctx, s.db, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.db.QueryContext(ctx, q, args...)
}

// Times in columns: package sqltext.
const timeLayout = sqltext.TimeLayout

var timeKey = sqltext.TimeKey

// refusal carries an error that fn met before writing anything (ErrNotFound,
// the caller's own error): it is fn's outcome, and the writes sharing its
// transaction still commit.
type refusal struct{ err error }

func (r refusal) Error() string { return r.err.Error() }

// write runs fn in a write transaction shared with the writes queued alongside
// it (committer.go). fn may run more than once, and must return a refusal only
// before it has written anything. A ctx already done returns ctx.Err() at once.
func (s *Store) write(ctx context.Context, fn func(*wtx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.committer.do(ctx, nil, fn)
}

// writeAbout is write for an fn that updates the envelope id: the committer
// reads the envelopes a group is about in one statement before running it.
func (s *Store) writeAbout(ctx context.Context, id *envelope.ID, fn func(*wtx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.committer.do(ctx, id, fn)
}

// wtx is a write transaction of the committer's, with the audit chain's head as
// it stands within it.
type wtx struct {
	s    *Store
	tx   sqlTx
	ctx  context.Context
	head *keyserver.AuditRecord // nil: the chain is empty
	// audit holds the records appended in this transaction, seq and data
	// alternately, for flushAudit.
	audit []any
	// stmts are the statements prepared in this transaction (SQLite).
	stmts map[string]*sql.Stmt
	// envs are the envelopes read or changed in this transaction (envelopes.go).
	envs map[envelope.ID]*envState
}

// sqlTx is what a write transaction's statements run on: a *sql.Tx, or on
// PostgreSQL a *sql.Conn on which the pipelined commit (pipeline.go) began the
// transaction itself.
type sqlTx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// stmt returns query prepared for the transaction, or nil. On SQLite, a
// statement is prepared once per transaction, which a group's writes share;
// pgx keeps its own per-connection cache of prepared statements, which a
// database/sql Prepare would bypass with a round trip of its own.
func (w *wtx) stmt(q string) *sql.Stmt {
	if w.s.driver != SQLite {
		return nil
	}
	if st, ok := w.stmts[q]; ok {
		return st
	}
	st, err := w.tx.PrepareContext(w.ctx, q)
	if err != nil {
		return nil // run unprepared, and meet the error there
	}
	if w.stmts == nil {
		w.stmts = map[string]*sql.Stmt{}
	}
	w.stmts[q] = st
	return st
}

func (w *wtx) exec(query string, args ...any) (sql.Result, error) {
	q := w.s.q(query)
	if st := w.stmt(q); st != nil {
		return st.ExecContext(w.ctx, args...)
	}
	return w.tx.ExecContext(w.ctx, q, args...)
}

func (w *wtx) queryRow(query string, args ...any) *sql.Row {
	q := w.s.q(query)
	if st := w.stmt(q); st != nil {
		return st.QueryRowContext(w.ctx, args...)
	}
	return w.tx.QueryRowContext(w.ctx, q, args...)
}

func (w *wtx) query(query string, args ...any) (*sql.Rows, error) {
	q := w.s.q(query)
	if st := w.stmt(q); st != nil {
		return st.QueryContext(w.ctx, args...)
	}
	return w.tx.QueryContext(w.ctx, q, args...)
}

// forUpdate is the locking clause for a read a write depends on: PostgreSQL
// locks the row against other nodes' transactions; SQLite's single writer needs
// none.
func (w *wtx) forUpdate() string {
	if w.s.driver == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// lockHead reads (and on PostgreSQL locks) the audit chain's head row: the first
// statement of every write transaction.
func (w *wtx) lockHead() error {
	var seq int64
	var hash []byte
	if err := w.queryRow("SELECT seq, hash FROM audit_head WHERE id = 1"+w.forUpdate()).Scan(&seq, &hash); err != nil {
		return fmt.Errorf("lock audit head: %w", err)
	}
	w.head = nil
	if seq > 0 {
		w.head = &keyserver.AuditRecord{Seq: uint64(seq), Hash: hash}
	}
	return nil
}
