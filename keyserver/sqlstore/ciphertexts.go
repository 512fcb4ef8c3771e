package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// PutCiphertext stores a shared ciphertext once; see keyserver.Store. It
// commits before returning (the contract allows, but does not require, a lazy
// write).
func (s *Store) PutCiphertext(ctx context.Context, sum [32]byte, data []byte, now time.Time) error {
	err := s.write(ctx, func(w *wtx) error {
		var refs int64
		err := w.queryRow("SELECT refs FROM ciphertexts WHERE sum = ?"+w.forUpdate(), sum[:]).Scan(&refs)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = w.exec("INSERT INTO ciphertexts (sum, data, refs, uploaded) VALUES (?, ?, 0, ?)", sum[:], data, timeKey(now))
			return err
		case err != nil:
			return err
		case refs > 0:
			return nil
		}
		// Unreferenced: restart its grace period, as for a fresh upload.
		_, err = w.exec("UPDATE ciphertexts SET uploaded = ? WHERE sum = ?", timeKey(now), sum[:])
		return err
	})
	if err != nil {
		return fmt.Errorf("put ciphertext %x: %w", sum, err)
	}
	return nil
}

// Ciphertext returns a shared ciphertext.
func (s *Store) Ciphertext(ctx context.Context, sum [32]byte) ([]byte, error) {
	var data []byte
	err := s.queryRow(ctx, "SELECT data FROM ciphertexts WHERE sum = ?", sum[:]).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		err = keyserver.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("ciphertext %x: %w", sum, err)
	}
	return data, nil
}

// DeleteUnreferencedCiphertexts deletes uploads that no envelope came to
// reference before t.
func (s *Store) DeleteUnreferencedCiphertexts(ctx context.Context, t time.Time) (int, error) {
	n := 0
	err := s.write(ctx, func(w *wtx) error {
		res, err := w.exec("DELETE FROM ciphertexts WHERE refs = 0 AND uploaded < ?", timeKey(t))
		if err != nil {
			return err
		}
		m, err := res.RowsAffected()
		n = int(m)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete unreferenced ciphertexts: %w", err)
	}
	return n, nil
}

// addCiphertextRef counts one more envelope referencing sum.
func addCiphertextRef(w *wtx, sum []byte) error {
	res, err := w.exec("UPDATE ciphertexts SET refs = refs + 1 WHERE sum = ?", sum)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errors.Join(err, fmt.Errorf("ciphertext %x: %w", sum, keyserver.ErrNotFound))
	}
	return nil
}

// dropCiphertextRef counts one envelope fewer referencing sum, deleting the
// ciphertext with the last: its keys are gone, so nothing can open it.
func dropCiphertextRef(w *wtx, sum []byte) error {
	if _, err := w.exec("DELETE FROM ciphertexts WHERE sum = ? AND refs <= 1", sum); err != nil {
		return err
	}
	_, err := w.exec("UPDATE ciphertexts SET refs = refs - 1 WHERE sum = ?", sum)
	return err
}
