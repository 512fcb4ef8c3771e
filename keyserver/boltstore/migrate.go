package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/waxseal/waxseal/internal/durable"
)

// Version 1 kept the sender and recipient indexes by address alone
// (addr time(created) id); version 2 partitions them by day (keys.go).
var (
	bucketEnvBySenderV1    = []byte("envelopes_by_sender")
	bucketEnvByRecipientV1 = []byte("envelopes_by_recipient")
)

// migrateChunk bounds the index entries one migration transaction copies, so
// that a large file's migration holds a bounded number of dirty pages. A
// variable so that a test can make a small file take many chunks.
var migrateChunk = 50000

// ErrLayoutOld is Open's refusal of a file in an earlier layout without
// Options.Migrate.
var ErrLayoutOld = errors.New("layout older than this build's")

// layoutOf reads db's layout version ("" for a file that has none: new, or not
// a key server's).
func layoutOf(db *bolt.DB) (version string, err error) {
	err = db.View(func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			version = string(meta.Get(keyVersion))
		}
		return nil
	})
	return version, err
}

// migrate brings a file written by an earlier version to LayoutVersion as Open
// opens it, if opts allow it. A new file, or one already at LayoutVersion, is
// left alone; initBuckets refuses any other version.
func migrate(db *bolt.DB, opts Options) error {
	version, err := layoutOf(db)
	if err != nil || version != "1" {
		return err
	}
	if !opts.Migrate {
		return fmt.Errorf("%w: version %s, this build needs %s: run `waxseal migrate`, which copies the file aside first (or set [store] migrate = true)", ErrLayoutOld, version, LayoutVersion)
	}
	return migrateFrom(context.Background(), db, version, opts)
}

// Migrate brings the key server's bbolt file at path up to LayoutVersion,
// first copying it to opts.MigrateBackup if set, and reports whether it had
// anything to do. Unlike Open it creates no file and opens no store. If ctx
// ends, it stops between two transactions, the file still at its old version
// (the next migration starts again).
func Migrate(ctx context.Context, path string, opts Options) (migrated bool, err error) {
	opts = opts.withDefaults()
	if _, err := os.Stat(path); err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	db, err := openBolt(path, opts)
	if err != nil {
		return false, err
	}
	defer func() {
		if cerr := db.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close %s: %w", path, cerr)
		}
	}()
	version, err := layoutOf(db)
	switch {
	case err != nil:
		return false, fmt.Errorf("migrate %s: %w", path, err)
	case version == LayoutVersion:
		return false, nil
	case version != "1":
		return false, fmt.Errorf("migrate %s: database layout version %q, this build reads %q", path, version, LayoutVersion)
	}
	if err := migrateFrom(ctx, db, version, opts); err != nil {
		return false, fmt.Errorf("migrate %s: %w", path, err)
	}
	return true, nil
}

// migrateFrom migrates db from version, copying it aside first if
// opts.MigrateBackup is set.
func migrateFrom(ctx context.Context, db *bolt.DB, version string, opts Options) error {
	var entries int // what the log says the migration has to move
	err := db.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketEnvBySenderV1, bucketEnvByRecipientV1} {
			if b := tx.Bucket(name); b != nil {
				entries += b.Stats().KeyN
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	log := opts.Logger.With("from", version, "to", LayoutVersion, "index_entries", entries)
	log.Info("bbolt store: migrating layout (one way: older builds will refuse the file)", "backup", opts.MigrateBackup)
	start := time.Now()
	if opts.MigrateBackup != "" {
		replaced, err := backupFile(db, opts.MigrateBackup)
		if err != nil {
			return fmt.Errorf("copy before migrating layout version %s: %w", version, err)
		}
		if replaced {
			// The file is still at the old version, so it holds everything that
			// copy did: an earlier migration stopped short, or the copy was
			// restored and the file used since.
			log.Info("bbolt store: the copy replaced one an earlier, unfinished migration left", "backup", opts.MigrateBackup)
		}
	}
	if err := migrateDayIndexes(ctx, db); err != nil {
		return fmt.Errorf("migrate layout version %s to %s: %w", version, LayoutVersion, err)
	}
	log.Info("bbolt store: layout migrated", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// migrateDayIndexes copies version 1's sender and recipient indexes into the
// day-partitioned buckets, a chunk a transaction, then drops the old ones and
// writes the new version in one last transaction. Until then the file is still
// version 1 with its old indexes whole: a migration cut short starts again
// from empty new buckets on the next open.
func migrateDayIndexes(ctx context.Context, db *bolt.DB) error {
	moves := []struct{ from, to []byte }{
		{bucketEnvBySenderV1, bucketEnvBySender},
		{bucketEnvByRecipientV1, bucketEnvByRecipient},
	}
	err := db.Update(func(tx *bolt.Tx) error {
		for _, m := range moves {
			if err := tx.DeleteBucket(m.to); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
				return err
			}
			if _, err := tx.CreateBucket(m.to); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, m := range moves {
		var next []byte // the first old key not yet copied; nil: from the start
		for {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("stopped, the file still at its old layout: %w", err)
			}
			err := db.Update(func(tx *bolt.Tx) error {
				from, to := tx.Bucket(m.from), tx.Bucket(m.to)
				if from == nil {
					next = nil
					return nil
				}
				c := from.Cursor()
				k, _ := c.First()
				if next != nil {
					k, _ = c.Seek(next)
				}
				for n := 0; k != nil; k, _ = c.Next() {
					if n == migrateChunk {
						next = bytes.Clone(k)
						return nil
					}
					nk, err := dayPartitioned(k)
					if err != nil {
						return fmt.Errorf("bucket %s: %w", m.from, err)
					}
					if err := to.Put(nk, nil); err != nil {
						return fmt.Errorf("bucket %s: %w", m.to, err)
					}
					n++
				}
				next = nil
				return nil
			})
			if err != nil {
				return err
			}
			if next == nil {
				break
			}
		}
	}
	return db.Update(func(tx *bolt.Tx) error {
		for _, m := range moves {
			if err := tx.DeleteBucket(m.from); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyVersion, []byte(LayoutVersion))
	})
}

// dayPartitioned turns a version 1 index key (addr time(created) id) into
// version 2's (day(created) addr time(created) id).
func dayPartitioned(k []byte) ([]byte, error) {
	if len(k) < 2 {
		return nil, fmt.Errorf("index key %x: too short", k)
	}
	n := 2 + int(binary.BigEndian.Uint16(k))
	if len(k) != n+timeLen+idLen {
		return nil, fmt.Errorf("index key %x: not address, time and id", k)
	}
	return join(dayKey(dayOf(keyTime(k[n:]))), k), nil
}

// backupFile writes a consistent copy of db to path: to path.partial first,
// synced, then renamed over path, so that path is never a truncated copy. It
// reports whether it replaced a file that was there.
func backupFile(db *bolt.DB, path string) (replaced bool, err error) {
	_, statErr := os.Stat(path)
	partial := path + ".partial"
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600) // it holds wrapped keys
	if err != nil {
		return false, err
	}
	defer os.Remove(partial) // a no-op once renamed
	err = db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(f)
		return err
	})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(partial, path)
	}
	if err == nil {
		err = durable.SyncDir(filepath.Dir(path))
	}
	return err == nil && statErr == nil, err
}
