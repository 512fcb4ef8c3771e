//go:build js && wasm

package d1store

import (
	"context"
	"fmt"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// PutCiphertext writes the object to R2 first, then its row: a row never
// names an object that is not there, and an object without a row (the row's
// write failed) is an orphan that DeleteUnreferencedCiphertexts removes.
func (s *Store) PutCiphertext(ctx context.Context, sum [32]byte, data []byte, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	key := hx(sum[:])
	if err := s.r2Put(ctx, key, data); err != nil {
		return fmt.Errorf("put ciphertext %s: %w", key, err)
	}
	err := s.write(ctx, func(w *wtx) error {
		// Unreferenced: restart its grace period, as for a fresh upload.
		w.exec(`INSERT INTO ciphertexts (sum, refs, uploaded) VALUES (?, 0, ?)
			ON CONFLICT (sum) DO UPDATE SET uploaded = CASE WHEN refs = 0 THEN excluded.uploaded ELSE uploaded END`,
			key, timeKey(now))
		return nil
	})
	if err != nil {
		return fmt.Errorf("put ciphertext %s: %w", key, err)
	}
	return nil
}

// Ciphertext returns a shared ciphertext: known to D1, read from R2.
func (s *Store) Ciphertext(ctx context.Context, sum [32]byte) ([]byte, error) {
	key := hx(sum[:])
	rows, err := s.query(ctx, "SELECT refs FROM ciphertexts WHERE sum = ?", key)
	if err == nil && len(rows) == 0 {
		err = keyserver.ErrNotFound
	}
	var data []byte
	if err == nil {
		data, err = s.object(ctx, key)
	}
	if err != nil {
		return nil, fmt.Errorf("ciphertext %s: %w", key, err)
	}
	return data, nil
}

// DeleteUnreferencedCiphertexts deletes uploads that no envelope came to
// reference before t, then the R2 objects that have no row and were uploaded
// before t (orphans: a row whose write failed, an object whose deletion did).
// It counts the rows.
func (s *Store) DeleteUnreferencedCiphertexts(ctx context.Context, t time.Time) (int, error) {
	n := 0
	var gone []string
	err := s.write(ctx, func(w *wtx) error {
		rows, err := w.query("SELECT sum FROM ciphertexts WHERE refs = 0 AND uploaded < ?", timeKey(t))
		if err != nil {
			return err
		}
		n, gone = len(rows), nil
		for _, r := range rows {
			gone = append(gone, r.str("sum"))
			w.exec("DELETE FROM ciphertexts WHERE sum = ? AND refs = 0", r.str("sum"))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete unreferenced ciphertexts: %w", err)
	}
	for _, key := range gone {
		s.r2Delete(ctx, key)
	}
	if err := s.sweepOrphans(ctx, t); err != nil {
		return n, fmt.Errorf("delete unreferenced ciphertexts: %w", err)
	}
	return n, nil
}

// dropCiphertextRef counts one envelope fewer referencing sum, deleting the
// ciphertext with the last (its R2 object once the batch committed).
func (w *wtx) dropCiphertextRef(sum []byte) error {
	key := hx(sum)
	rows, err := w.query("SELECT refs FROM ciphertexts WHERE sum = ?", key)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	if rows[0].int("refs") <= 1 {
		w.exec("DELETE FROM ciphertexts WHERE sum = ?", key)
		w.after = append(w.after, func(ctx context.Context) { w.s.r2Delete(ctx, key) })
		return nil
	}
	w.exec("UPDATE ciphertexts SET refs = refs - 1 WHERE sum = ?", key)
	return nil
}
