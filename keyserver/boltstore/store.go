// Package boltstore is the keyserver.Store kept in one bbolt file.
//
// Records are JSON, one bucket per kind, with small index buckets beside them
// (layout in keys.go). Every method is one bbolt transaction, and every committed
// write is fsynced before the method returns.
package boltstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/waxseal/waxseal/keyserver"
)

// Options tune the store; the zero value is sensible.
type Options struct {
	// MaxBatchDelay is how long a write waits for others to share its commit when
	// writes overlap (default 1 ms). bbolt's own 10 ms default costs more latency
	// than the fsync it saves at low concurrency.
	MaxBatchDelay time.Duration
	// MaxBatchSize caps the writes sharing one commit (default 64). A full batch
	// commits at once, without waiting out MaxBatchDelay, so this is best near
	// the number of concurrent writers: measured at GOMAXPROCS 2, 64 beat 256 by
	// 1.3–1.4 times at both 16 and 64 writers.
	MaxBatchSize int
	// Timeout is how long Open waits for another process to release the file lock
	// (default 1 s), so a second server fails instead of hanging.
	Timeout time.Duration
	// InitialMmapSize, if larger than the file, lets the file grow that far without
	// a remap, which waits for every open read transaction.
	InitialMmapSize int
}

func (o Options) withDefaults() Options {
	if o.MaxBatchDelay <= 0 {
		o.MaxBatchDelay = time.Millisecond
	}
	if o.MaxBatchSize <= 0 {
		o.MaxBatchSize = 64
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	return o
}

// Store is a keyserver.Store on a bbolt database.
type Store struct {
	db *bolt.DB
	// writers counts write calls in progress, so that a lone write commits at
	// once instead of waiting MaxBatchDelay for company that is not coming.
	writers atomic.Int64
	// head is the audit chain's end as last appended (see auditHead). Only write
	// transactions touch it, and bbolt runs one at a time.
	head auditHead
}

var _ keyserver.Store = (*Store)(nil)

// schemaVersion is stored in the meta bucket so that a later layout can refuse,
// or migrate, a file written by this one.
const schemaVersion = "1"

// Open opens the database at path, creating it (mode 0600: it holds wrapped keys
// and password hashes) and its buckets if needed.
func Open(path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         opts.Timeout,
		InitialMmapSize: opts.InitialMmapSize,
		// Deleted payloads leave many free pages; the map freelist allocates
		// among them in O(1) where the array one scans.
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.MaxBatchDelay = opts.MaxBatchDelay
	db.MaxBatchSize = opts.MaxBatchSize
	if err := db.Update(initBuckets); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &Store{db: db}, nil
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
		return meta.Put(keyVersion, []byte(schemaVersion))
	case string(v) != schemaVersion:
		return fmt.Errorf("database layout version %q, this build reads %q", v, schemaVersion)
	}
	return nil
}

// Close closes the database, waiting for open transactions.
func (s *Store) Close() error {
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
// ErrNotFound or the caller's own error. In a batch, fn then reports success so
// that the others' writes commit instead of the whole batch being redone, and
// write returns the error afterwards.
type refusal struct{ err error }

func (r refusal) Error() string { return r.err.Error() }

// write runs fn in a write transaction, shared with concurrent writes (db.Batch)
// when there are any, so that they pay for one fsync between them. fn may run
// more than once and must leave the transaction untouched when it returns a
// refusal. Errors come back unwrapped, so a caller's error is returned as is.
func (s *Store) write(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer s.writers.Add(-1)
	if s.writers.Add(1) == 1 {
		// Alone: a refusal rolls back, saving the fsync of an empty commit.
		err := s.db.Update(fn)
		if r, ok := err.(refusal); ok {
			return r.err
		}
		return err
	}
	var refused error
	err := s.db.Batch(func(tx *bolt.Tx) error {
		refused = nil // fn may be rerun: only its last run counts
		err := fn(tx)
		if r, ok := err.(refusal); ok {
			refused = r.err
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	return refused
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
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %x: %w", key, err)
	}
	return b.Put(key, data)
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
