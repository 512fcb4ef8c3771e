package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
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

// migrate brings a file written by an earlier version to LayoutVersion before
// the store opens, if opts allow it. A new file, or one already at
// LayoutVersion, is left alone; initBuckets refuses any other version.
func migrate(db *bolt.DB, opts Options) error {
	var version string
	var entries int
	err := db.View(func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			version = string(meta.Get(keyVersion))
		}
		for _, name := range [][]byte{bucketEnvBySenderV1, bucketEnvByRecipientV1} {
			if b := tx.Bucket(name); b != nil {
				entries += b.Stats().KeyN
			}
		}
		return nil
	})
	if err != nil || version != "1" {
		return err
	}
	if !opts.Migrate {
		return fmt.Errorf("%w: version %s, this build needs %s: run `waxseal migrate`, which copies the file aside first (or set [store] migrate = true)", ErrLayoutOld, version, LayoutVersion)
	}
	log := opts.Logger.With("from", version, "to", LayoutVersion, "index_entries", entries)
	log.Info("bbolt store: migrating layout (one way: older builds will refuse the file)", "backup", opts.MigrateBackup)
	start := time.Now()
	if opts.MigrateBackup != "" {
		if err := backupFile(db, opts.MigrateBackup); err != nil {
			return fmt.Errorf("copy before migrating layout version %s: %w", version, err)
		}
	}
	if err := migrateDayIndexes(db); err != nil {
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
func migrateDayIndexes(db *bolt.DB) error {
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

// backupFile writes a consistent copy of db to a new file at path.
func backupFile(db *bolt.DB, path string) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	if err := db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(f)
		return err
	}); err != nil {
		return err
	}
	return f.Sync()
}
