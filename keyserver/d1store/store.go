//go:build js && wasm

// Package d1store is the keyserver.Store on Cloudflare D1, with the shared
// ciphertexts in R2, for the key server as a Worker (cmd/waxseal-worker).
//
// D1 has no interactive transactions: a batch (internal/d1batch) is its only
// atomic unit, and a batch cannot branch on what it reads. So every write runs
// optimistically: it reads the installation's write version (a column of the
// audit head row) and whatever it depends on, decides in Go, and sends its
// writes as one batch led by a guard that bumps the version only if it is
// still the one read. If another write committed meanwhile, the guard fails,
// the whole batch has no effect, and the write reads and decides again (the
// Store contract lets fn run more than once). Every write moves the version,
// so the writes are serialisable across all isolates, and the audit chain
// stays one verified chain: its head (seq, hash) lives in that same row.
//
// Records are JSON text beside the columns queries select and order by, as in
// sqlstore. Every time in a column is fixed-width UTC text with nanoseconds
// (D1 returns large integers as doubles), and every byte string in a column is
// lower-case hex (D1 returns blobs as arrays, which d1batch does not read).
//
// Shared ciphertexts live in R2 under the hex of their SHA-256; D1 keeps a row
// per ciphertext with its reference count and upload time. An upload writes R2
// first, then the row; a ciphertext deleted in D1 is deleted from R2 after the
// batch commits. An object whose row never came (or whose deletion failed) is
// an orphan: DeleteUnreferencedCiphertexts removes those too.
package d1store

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"syscall/js"
	"time"

	"github.com/waxseal/waxseal/internal/d1batch"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/internal/sqltext"
)

type stmt = d1batch.Statement

// Store is a keyserver.Store on a D1 database and an R2 bucket.
type Store struct {
	db   js.Value
	r2   js.Value // the R2 bucket binding (r2.go)
	lead leadState

	// writing is this isolate's write turn (a one-slot semaphore that a
	// cancelled context can stop waiting for); head is guarded by it.
	writing chan struct{}
	head    head
	envs    envQueue // UpdateEnvelope calls waiting for a group (group.go)
}

var _ keyserver.Store = (*Store)(nil)

// Open returns the store on the D1 binding named dbBinding and the R2 binding
// named bucketBinding of the Worker's environment, creating the schema if it
// is missing.
func Open(ctx context.Context, dbBinding, bucketBinding string) (*Store, error) {
	db := js.Global().Get("context").Get("env").Get(dbBinding)
	if db.IsUndefined() || db.IsNull() {
		return nil, fmt.Errorf("d1store: no D1 binding %q", dbBinding)
	}
	bucket := js.Global().Get("context").Get("env").Get(bucketBinding)
	if bucket.IsUndefined() || bucket.IsNull() {
		return nil, fmt.Errorf("d1store: no R2 binding %q", bucketBinding)
	}
	s := &Store{db: db, r2: bucket, writing: make(chan struct{}, 1)}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// schema is created by Open. IF NOT EXISTS throughout: Open runs it on every
// cold start, and a batch of these is one round trip.
var schema = []string{
	d1batch.Setup().SQL,
	`CREATE TABLE IF NOT EXISTS envelopes (id TEXT PRIMARY KEY, sender TEXT NOT NULL, recipient TEXT NOT NULL,
		created TEXT NOT NULL, expiry TEXT, ciphertext TEXT, data TEXT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS envelopes_by_sender ON envelopes (sender, created, id)`,
	`CREATE INDEX IF NOT EXISTS envelopes_by_recipient ON envelopes (recipient, created, id)`,
	`CREATE INDEX IF NOT EXISTS envelopes_by_created ON envelopes (created, id)`,
	`CREATE INDEX IF NOT EXISTS envelopes_by_expiry ON envelopes (expiry, id) WHERE expiry IS NOT NULL`,
	`CREATE TABLE IF NOT EXISTS payloads (id TEXT PRIMARY KEY, data TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS ciphertexts (sum TEXT PRIMARY KEY, refs INTEGER NOT NULL, uploaded TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, data TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS credentials (id TEXT PRIMARY KEY, account_id TEXT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS credentials_by_account ON credentials (account_id)`,
	`CREATE TABLE IF NOT EXISTS codes (email TEXT NOT NULL, purpose TEXT NOT NULL, expires TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (email, purpose))`,
	`CREATE TABLE IF NOT EXISTS sessions (token_hash TEXT PRIMARY KEY, account_id TEXT NOT NULL, last_seen TEXT NOT NULL, data TEXT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS sessions_by_account ON sessions (account_id)`,
	`CREATE TABLE IF NOT EXISTS ceremonies (id TEXT PRIMARY KEY, expires TEXT NOT NULL, data TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS invites (token_hash TEXT PRIMARY KEY, expires TEXT NOT NULL, data TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, next_attempt TEXT NOT NULL, lease TEXT, lease_until TEXT, data TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, data TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), ver INTEGER NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, next_mail INTEGER NOT NULL)`,
	`INSERT OR IGNORE INTO audit_head (id, ver, seq, hash, next_mail) VALUES (1, 0, 0, '', 1)`,
	`CREATE TABLE IF NOT EXISTS thread_hashes (hash TEXT PRIMARY KEY, expires TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS replies (id TEXT PRIMARY KEY, envelope TEXT NOT NULL, created TEXT NOT NULL, next_attempt TEXT, data TEXT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS replies_by_envelope ON replies (envelope, created, id)`,
	`CREATE TABLE IF NOT EXISTS rate_limits (key TEXT PRIMARY KEY, tat INTEGER NOT NULL, ok INTEGER NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS failure_counts (key TEXT PRIMARY KEY, n INTEGER NOT NULL, last_failure TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS leader (id INTEGER PRIMARY KEY CHECK (id = 1), holder TEXT NOT NULL, until TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS sweep_cursor (id INTEGER PRIMARY KEY CHECK (id = 1), cursor TEXT NOT NULL)`,
}

var tables = []string{"envelopes", "payloads", "ciphertexts", "accounts", "credentials", "codes", "sessions",
	"ceremonies", "invites", "outbox", "audit", "thread_hashes", "replies", "rate_limits", "failure_counts", "leader", "sweep_cursor"}

func (s *Store) migrate(ctx context.Context) error {
	stmts := make([]stmt, len(schema))
	for i, q := range schema {
		stmts[i] = stmt{SQL: q}
	}
	if _, err := d1batch.Batch(ctx, s.db, stmts); err != nil {
		return fmt.Errorf("d1store: create schema: %w", err)
	}
	return nil
}

// Reset empties every table, for tests: each storetest case wants an empty
// store. R2 objects are left to the orphan sweep.
func (s *Store) Reset(ctx context.Context) error {
	if err := s.lockWrites(ctx); err != nil {
		return err
	}
	defer s.unlockWrites()
	s.head.known = false
	var stmts []stmt
	for _, t := range tables {
		stmts = append(stmts, stmt{SQL: "DELETE FROM " + t})
	}
	stmts = append(stmts, stmt{SQL: "UPDATE audit_head SET ver = ver + 1, seq = 0, hash = '', next_mail = 1 WHERE id = 1"})
	_, err := d1batch.Batch(ctx, s.db, stmts)
	return err
}

// Close releases nothing: the bindings belong to the isolate.
func (s *Store) Close() error { return nil }

// row is one result row: column to string, float64 or nil.
type row map[string]any

func (r row) str(k string) string {
	switch v := r[k].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatInt(int64(v), 10)
	}
	return ""
}

func (r row) int(k string) int64 {
	switch v := r[k].(type) {
	case float64:
		return int64(v)
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return 0
}

func (r row) bytes(k string) []byte {
	b, _ := hex.DecodeString(r.str(k))
	return b
}

func (r row) time(k string) time.Time {
	t, _ := time.Parse(timeLayout, r.str(k))
	return t
}

// query runs one read.
func (s *Store) query(ctx context.Context, q string, args ...any) ([]row, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res, err := d1batch.Batch(ctx, s.db, []stmt{{SQL: q, Args: args}})
	if err != nil {
		return nil, err
	}
	out := make([]row, len(res[0].Rows))
	for i, r := range res[0].Rows {
		out[i] = r
	}
	return out, nil
}

// Times in columns: package sqltext.
const timeLayout = sqltext.TimeLayout

var timeKey = sqltext.TimeKey

func hx(b []byte) string { return hex.EncodeToString(b) }

func encode(v any) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode: %w", err)
	}
	return string(data), nil
}

func decode(data string, v any) error {
	if err := json.Unmarshal([]byte(data), v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

// wtx is one attempt at a write: reads go to D1 at once, writes wait for the
// batch commit sends.
type wtx struct {
	s        *Store
	ctx      context.Context
	ver      int64
	head     *keyserver.AuditRecord
	nextMail int64
	mailUsed bool
	audit    []stmt
	stmts    []stmt
	after    []func(context.Context) // run once the batch committed (R2 deletions)
}

func (w *wtx) query(q string, args ...any) ([]row, error) { return w.s.query(w.ctx, q, args...) }

func (w *wtx) exec(q string, args ...any) { w.stmts = append(w.stmts, stmt{SQL: q, Args: args}) }

func (w *wtx) appendAudit(events []keyserver.AuditEvent) error {
	for _, ev := range events {
		ev.Time = ev.Time.UTC()
		r := keyserver.ChainAudit(w.head, ev)
		data, err := encode(r)
		if err != nil {
			return err
		}
		w.audit = append(w.audit, stmt{SQL: "INSERT INTO audit (seq, data) VALUES (?, ?)", Args: []any{int64(r.Seq), data}})
		w.head = &keyserver.AuditRecord{Seq: r.Seq, Hash: r.Hash}
	}
	return nil
}

// Bounds of one write's retries under contention from other isolates: about
// maxAttempts tries, each after a jittered wait that doubles from minBackoff to
// maxBackoff, so a write gives up after a few seconds rather than spinning.
const (
	maxAttempts = 40
	minBackoff  = time.Millisecond
	maxBackoff  = 64 * time.Millisecond
)

// head is the audit head row as this isolate last saw it.
type head struct {
	known    bool
	ver      int64
	seq      int64
	hash     []byte
	nextMail int64
}

// lockWrites waits for this isolate's turn to write, or for ctx.
func (s *Store) lockWrites(ctx context.Context) error {
	select {
	case s.writing <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) unlockWrites() { <-s.writing }

// readHead reads the audit head row into s.head.
func (s *Store) readHead(ctx context.Context) error {
	rows, err := s.query(ctx, "SELECT ver, seq, hash, next_mail FROM audit_head WHERE id = 1")
	if err != nil {
		return fmt.Errorf("read audit head: %w", err)
	}
	if len(rows) != 1 {
		return errors.New("d1store: no audit head row")
	}
	s.head = head{known: true, ver: rows[0].int("ver"), seq: rows[0].int("seq"), hash: rows[0].bytes("hash"), nextMail: rows[0].int("next_mail")}
	return nil
}

// write runs fn against fresh reads and commits its writes as one batch,
// guarded by the write version; it runs fn again if another write committed
// in between. An error from fn is returned as it is, with nothing written.
//
// Where the writes contend, and why only there: the writes of one isolate
// take turns (s.writing), so they never fail one another's guard: dozens of
// goroutines of one Go instance cost one read and one batch each, not a
// retry storm. The version still serialises writes across isolates, which is
// what keeps the audit chain one chain (a record's hash covers the one before
// it, so every write that logs must see the head the previous one left) and
// the cross-record checks sound (the last administrator, an account's
// credentials against every other account's). A write that logs nothing
// could be guarded by its own rows instead; it is not, because then a
// version-guarded write that read those rows could miss its change. The head
// is cached between this isolate's writes: the guard proves it still holds,
// and when another isolate moved it the write reads it again and retries
// after a jittered, doubling wait.
func (s *Store) write(ctx context.Context, fn func(*wtx) error) error {
	if err := s.lockWrites(ctx); err != nil {
		return err
	}
	defer s.unlockWrites()
	backoff := minBackoff
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		w, h, err := s.begin(ctx)
		if err != nil {
			return err
		}
		if err := fn(w); err != nil {
			return err
		}
		if len(w.stmts) == 0 && len(w.audit) == 0 && !w.mailUsed {
			for _, f := range w.after {
				f(ctx)
			}
			return nil
		}
		retry, err := s.commit(ctx, w, h, &backoff)
		if err != nil {
			return err
		}
		if retry {
			continue
		}
		for _, f := range w.after {
			f(ctx)
		}
		return nil
	}
	return fmt.Errorf("d1store: write: %d attempts met other writes", maxAttempts)
}

// begin starts an attempt at a write from the head as this isolate knows it,
// reading it if it does not.
func (s *Store) begin(ctx context.Context) (*wtx, head, error) {
	if !s.head.known {
		if err := s.readHead(ctx); err != nil {
			return nil, head{}, err
		}
	}
	h := s.head
	w := &wtx{s: s, ctx: ctx, ver: h.ver, nextMail: h.nextMail}
	if h.seq > 0 {
		w.head = &keyserver.AuditRecord{Seq: uint64(h.seq), Hash: h.hash}
	}
	return w, h, nil
}

// commit sends w's writes as one batch led by the version guard on h. On a
// guard failure it waits a jittered, doubling backoff and asks for a retry;
// on success it keeps the head the batch left.
func (s *Store) commit(ctx context.Context, w *wtx, h head, backoff *time.Duration) (retry bool, err error) {
	seq, hash := int64(0), []byte(nil)
	if w.head != nil {
		seq, hash = int64(w.head.Seq), w.head.Hash
	}
	batch := make([]stmt, 0, 2+len(w.audit)+len(w.stmts))
	batch = append(batch, stmt{SQL: "UPDATE audit_head SET ver = ver + 1, seq = ?, hash = ?, next_mail = ? WHERE id = 1 AND ver = ?",
		Args: []any{seq, hx(hash), w.nextMail, w.ver}}, d1batch.Guard())
	batch = append(batch, w.audit...)
	batch = append(batch, w.stmts...)
	if err := checkRowSizes(batch); err != nil {
		return false, err
	}
	if _, err := d1batch.Batch(ctx, s.db, batch); err != nil {
		s.head.known = false
		if !errors.Is(err, d1batch.ErrGuard) {
			return false, fmt.Errorf("d1store: write: %w", err)
		}
		// Another isolate wrote first: wait a random part of the backoff, so
		// that writers in step drift apart, then read again.
		select {
		case <-time.After(time.Duration(rand.Int64N(int64(*backoff))) + time.Millisecond/4):
		case <-ctx.Done():
			return false, ctx.Err()
		}
		*backoff = min(2**backoff, maxBackoff)
		return true, nil
	}
	s.head = head{known: true, ver: h.ver + 1, seq: seq, hash: hash, nextMail: w.nextMail}
	return false, nil
}

func placeholders(n int) string {
	return "?" + strings.Repeat(", ?", n-1)
}
