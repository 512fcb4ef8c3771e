package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/waxseal/waxseal/keyserver"
)

// A shared ciphertext is stored once for all the envelopes of a message (see
// keyserver.Store): its bytes in a bucket of its own inside bucketCiphertexts
// (see getCiphertext for why), and beside them, in
// bucketCiphertextMeta, a fixed-size binary record (ciphertextMeta) counting the
// envelopes that reference it. Those unreferenced also have an entry in
// bucketCiphertextOrphans, by upload time, so that the sweeper finds uploads whose
// registration never came with a range scan rather than reading every record.

// ciphertextMeta is a shared ciphertext's reference count and upload time.
type ciphertextMeta struct {
	refs     uint64
	uploaded []byte // timeKey
}

const metaLen = 8 + timeLen

func (m ciphertextMeta) encode() []byte {
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, metaLen), m.refs), m.uploaded...)
}

func getCiphertextMeta(tx *bolt.Tx, sum []byte) (ciphertextMeta, bool, error) {
	v := tx.Bucket(bucketCiphertextMeta).Get(sum)
	if v == nil {
		return ciphertextMeta{}, false, nil
	}
	if len(v) != metaLen {
		return ciphertextMeta{}, false, fmt.Errorf("ciphertext %x: meta record of %d bytes, want %d", sum, len(v), metaLen)
	}
	return ciphertextMeta{refs: binary.BigEndian.Uint64(v), uploaded: bytes.Clone(v[8:])}, true, nil
}

// PutCiphertext stores a shared ciphertext once; see keyserver.Store. It queues
// the write and returns: the registration that follows it commits it (in its
// own transaction, or the one before), so a message's upload and registration
// cost one fsync, not two.
func (s *Store) PutCiphertext(ctx context.Context, sum [32]byte, data []byte, now time.Time) error {
	err := s.committer.enqueue(ctx, func(tx *bolt.Tx) error {
		meta, found, err := getCiphertextMeta(tx, sum[:])
		if err != nil {
			return err
		}
		orphans := tx.Bucket(bucketCiphertextOrphans)
		if found {
			if meta.refs > 0 {
				return nil
			}
			// Unreferenced: restart its grace period, as for a fresh upload.
			if err := orphans.Delete(join(meta.uploaded, sum[:])); err != nil {
				return err
			}
		} else if err := putCiphertext(tx, sum[:], data); err != nil {
			return err
		}
		meta = ciphertextMeta{refs: 0, uploaded: timeKey(now)}
		if err := tx.Bucket(bucketCiphertextMeta).Put(sum[:], meta.encode()); err != nil {
			return err
		}
		return orphans.Put(join(meta.uploaded, sum[:]), nil)
	})
	if err != nil {
		return fmt.Errorf("put ciphertext %x: %w", sum, err)
	}
	return nil
}

// Ciphertext returns a copy of a shared ciphertext.
func (s *Store) Ciphertext(ctx context.Context, sum [32]byte) ([]byte, error) {
	var out []byte
	err := s.view(ctx, func(tx *bolt.Tx) error {
		v := getCiphertext(tx, sum[:])
		if v == nil {
			return keyserver.ErrNotFound
		}
		out = bytes.Clone(v) // v lives only as long as the transaction
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ciphertext %x: %w", sum, err)
	}
	return out, nil
}

// DeleteUnreferencedCiphertexts deletes uploads that no envelope came to
// reference before t.
func (s *Store) DeleteUnreferencedCiphertexts(ctx context.Context, t time.Time) (int, error) {
	n := 0
	err := s.write(ctx, func(tx *bolt.Tx) error {
		n = 0 // fn may run again
		end := timeKey(t)
		c := tx.Bucket(bucketCiphertextOrphans).Cursor()
		var keys [][]byte
		for k, _ := c.First(); k != nil && bytes.Compare(k[:timeLen], end) < 0; k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			sum := k[timeLen:]
			if err := deleteCiphertext(tx, sum); err != nil {
				return err
			}
			if err := tx.Bucket(bucketCiphertextOrphans).Delete(k); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete unreferenced ciphertexts: %w", err)
	}
	return n, nil
}

func deleteCiphertext(tx *bolt.Tx, sum []byte) error {
	if err := tx.Bucket(bucketCiphertexts).DeleteBucket(sum); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
		return fmt.Errorf("delete ciphertext %x: %w", sum, err)
	}
	if err := tx.Bucket(bucketCiphertextMeta).Delete(sum); err != nil {
		return fmt.Errorf("delete ciphertext %x: %w", sum, err)
	}
	return nil
}

// keyData holds a ciphertext's bytes in its own bucket.
var keyData = []byte("data")

// putCiphertext stores a ciphertext in a bucket of its own. Stored as values side
// by side, large ones would share leaf pages (bbolt does not split a leaf of four
// keys or fewer, whatever their size), and every write to a leaf rewrites it
// whole: each upload would rewrite up to three others, megabytes for 10 MB
// messages, and each delete too. A bucket's own pages are written once.
func putCiphertext(tx *bolt.Tx, sum, data []byte) error {
	b, err := tx.Bucket(bucketCiphertexts).CreateBucketIfNotExists(sum)
	if err != nil {
		return err
	}
	return b.Put(keyData, data)
}

// getCiphertext returns a ciphertext's bytes, valid for the transaction, or nil.
func getCiphertext(tx *bolt.Tx, sum []byte) []byte {
	b := tx.Bucket(bucketCiphertexts).Bucket(sum)
	if b == nil {
		return nil
	}
	return b.Get(keyData)
}

// checkCiphertext refuses a reference to a ciphertext that is not stored.
func checkCiphertext(tx *bolt.Tx, sum []byte) error {
	if tx.Bucket(bucketCiphertextMeta).Get(sum) == nil {
		return fmt.Errorf("ciphertext %x: %w", sum, keyserver.ErrNotFound)
	}
	return nil
}

// addCiphertextRef counts one more envelope referencing sum.
func addCiphertextRef(tx *bolt.Tx, sum []byte) error {
	meta, found, err := getCiphertextMeta(tx, sum)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("ciphertext %x: %w", sum, keyserver.ErrNotFound)
	}
	if meta.refs == 0 {
		if err := tx.Bucket(bucketCiphertextOrphans).Delete(join(meta.uploaded, sum)); err != nil {
			return err
		}
	}
	meta.refs++
	return tx.Bucket(bucketCiphertextMeta).Put(sum, meta.encode())
}

// dropCiphertextRef counts one envelope fewer referencing sum, deleting the
// ciphertext with the last: its keys are gone, so nothing can open it.
func dropCiphertextRef(tx *bolt.Tx, sum []byte) error {
	meta, found, err := getCiphertextMeta(tx, sum)
	if err != nil || !found {
		return err // already gone: nothing to count
	}
	if meta.refs <= 1 {
		return deleteCiphertext(tx, sum)
	}
	meta.refs--
	return tx.Bucket(bucketCiphertextMeta).Put(sum, meta.encode())
}
