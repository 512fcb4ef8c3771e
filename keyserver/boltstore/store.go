// Package boltstore is the keyserver.Store kept in one bbolt file.
//
// Records are JSON, one bucket per kind, with small index buckets beside them
// (layout in keys.go). Every method is one bbolt transaction, and every committed
// write is fsynced before the method returns. One goroutine runs every write
// transaction, committing the writes queued meanwhile together (committer.go).
package boltstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/waxseal/waxseal/keyserver"
)

// Options tune the store; the zero value is sensible.
type Options struct {
	// MaxBatchSize caps the writes sharing one commit (default 256). Writes that
	// queue while a commit is under way share the next one, and those that queue
	// while its writes run join it, so a commit holds about as many writes as
	// there are concurrent writers: the cap only bounds the transaction, and the
	// work redone when one write in it fails.
	MaxBatchSize int
	// Timeout is how long Open waits for another process to release the file lock
	// (default 1 s), so a second server fails instead of hanging.
	Timeout time.Duration
	// InitialMmapSize, if larger than the file, lets the file grow that far without
	// a remap, which waits for every open read transaction.
	InitialMmapSize int
	// Migrate brings a file written in an earlier layout up to this build's at
	// Open: a one-way step (an older build then refuses the file), so without
	// it Open refuses such a file and says how to migrate it.
	Migrate bool
	// MigrateBackup, if set, is where a migration first copies the file, under
	// its lock (mode 0600; replacing what an unfinished migration left there).
	MigrateBackup string
	// Logger reports a migration's progress (nil: slog.Default()).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxBatchSize <= 0 {
		o.MaxBatchSize = 256
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Store is a keyserver.Store on a bbolt database.
type Store struct {
	db *bolt.DB
	// committer runs every write transaction (committer.go).
	committer committer
	memos     memos
	// The audit chain's end: as of the last commit (committedHead) and within the
	// write transaction in progress (txHead). Only the committer's goroutine, which
	// runs every write transaction, touches them (see auditHead).
	committedHead, txHead chainEnd
	lead                  keyserver.ProcessLead
	// viewLayout, for measurements only (scale_test.go), changes how the
	// sender and recipient indexes that Sent items and the admin console search
	// are written: what registration costs without them, or in version 1's
	// layout. The zero value is the real one.
	viewLayout viewLayout
}

// viewLayout is a layout of the views' indexes, for measurements only.
type viewLayout int

const (
	viewsByDay viewLayout = iota // the layout ListEnvelopes reads
	// viewsNone writes only the expiry index the sweeper needs.
	viewsNone
	// viewsByAddress is version 1's layout, without the day: a registration's
	// keys land at one place per address. Written only: ListEnvelopes does not
	// read it.
	viewsByAddress
)

var _ keyserver.Store = (*Store)(nil)

// LayoutVersion is stored in the meta bucket so that a later layout can refuse,
// or migrate, a file written by this one. Version 2 partitions the sender and
// recipient indexes by day (migrate.go).
const LayoutVersion = "2"

// Open opens the database at path, creating it (mode 0600: it holds wrapped keys
// and password hashes) and its buckets if needed.
func Open(path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	db, err := openBolt(path, opts)
	if err != nil {
		return nil, err
	}
	if err := migrate(db, opts); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.Update(initBuckets); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{db: db, memos: newMemos()}
	s.committer.start(s, opts.MaxBatchSize)
	return s, nil
}

// ErrInUse is Open's and Migrate's refusal of a file another process holds
// open (a key server running on it) once Options.Timeout has passed.
var ErrInUse = errors.New("in use by another process (is a key server running on it?)")

func openBolt(path string, opts Options) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         opts.Timeout,
		InitialMmapSize: opts.InitialMmapSize,
		// Deleted payloads leave many free pages; the map freelist allocates
		// among them in O(1) where the array one scans.
		FreelistType: bolt.FreelistMapType,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w", path, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

func initBuckets(tx *bolt.Tx) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket(bucketMeta)
	switch v := meta.Get(keyVersion); {
	case v == nil:
		return meta.Put(keyVersion, []byte(LayoutVersion))
	case string(v) != LayoutVersion:
		return fmt.Errorf("database layout version %q, this build reads %q", v, LayoutVersion)
	}
	return nil
}

// Close stops taking writes, waits for the committer to commit those already
// queued, and closes the database, waiting for open read transactions.
func (s *Store) Close() error {
	s.committer.stop()
	return s.db.Close()
}

// view runs fn in a read transaction.
func (s *Store) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

// refusal carries an error that fn met before writing anything, such as
// ErrNotFound or the caller's own error. fn's write then counts as done, with
// nothing written, so that the others sharing its commit still commit instead of
// being redone, and write returns the error afterwards.
type refusal struct{ err error }

func (r refusal) Error() string { return r.err.Error() }

// write runs fn in a write transaction, shared with the writes queued alongside it
// so that they pay for one commit (one fsync) between them; see committer.go. fn
// may run more than once and must leave the transaction untouched when it returns
// a refusal. Errors come back unwrapped, so a caller's error is returned as is; a
// panic in fn is raised again in the caller.
//
// A ctx already done returns ctx.Err() at once. Once queued, write waits for the
// outcome, which takes a commit or two: fn is skipped, and write returns
// ctx.Err(), if ctx is done when fn's turn comes, but a write that has run always
// reports its true outcome, so a caller never sees an error for a write that
// committed.
func (s *Store) write(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.committer.do(ctx, fn)
}

// get decodes the JSON record under key into v; ok is false if there is none.
func get(b *bolt.Bucket, key []byte, v any) (ok bool, err error) {
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	return true, decode(key, data, v)
}

// decode decodes the JSON record data found under key into v.
func decode(key, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %x: %w", key, err)
	}
	return nil
}

// put stores v as JSON under key.
func put(b *bolt.Bucket, key []byte, v any) error {
	data, err := encode(key, v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

// encode encodes the record v to be stored under key.
func encode(key []byte, v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %x: %w", key, err)
	}
	return data, nil
}

// putIndex makes a key-only index entry agree with its record: it removes old and
// adds want when they differ (nil meaning no entry).
func putIndex(b *bolt.Bucket, old, want []byte) error {
	if old != nil && string(old) == string(want) {
		return nil
	}
	if old != nil {
		if err := b.Delete(old); err != nil {
			return err
		}
	}
	if want != nil {
		return b.Put(want, nil)
	}
	return nil
}

// Backup writes a consistent copy of the database file to w from one read
// transaction (bbolt's Tx.WriteTo), while the store keeps serving: writes go on
// meanwhile, and the copy is the database as of the transaction's start.
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}
