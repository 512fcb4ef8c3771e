//go:build js && wasm

package d1store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/waxseal/waxseal/envelope"
)

// D1 caps a row (and any one string or blob) at 2,000,000 bytes: beyond it a
// write fails with SQLITE_TOOBIG. The key server takes envelope payloads up
// to MaxPayloadBytes (20 MB by default), and d1store keeps bytes as hex, twice
// their size. So a payload over inlinePayload goes to R2, under payloadKey,
// and its row holds r2Ref and that key instead of the hex; every other record
// is checked against maxRowBytes before a batch is sent, with an error that
// says which limit it met.
const (
	maxRowBytes   = 2_000_000
	inlinePayload = 256 << 10
	r2Ref         = "r2:"
	payloadPrefix = "payload/"
)

// ErrRowTooLarge is returned (wrapped) for a write whose row D1 cannot hold.
var ErrRowTooLarge = errors.New("d1store: a value is over D1's limit of 2,000,000 bytes a row")

// payloadKey names a payload's R2 object by its envelope and content, so that
// storing a different payload for the same id (a conflict, refused) never
// overwrites the one a row names.
func payloadKey(id envelope.ID, payload []byte) string {
	sum := sha256.Sum256(payload)
	return payloadPrefix + hx(id[:]) + "/" + hx(sum[:8])
}

// putLargePayloads writes the payloads too large for a row to R2, before the
// batch that names them (as for ciphertexts: an object without a row is an
// orphan the sweep removes); it returns their keys by envelope id.
func (s *Store) putLargePayloads(ctx context.Context, payloads map[envelope.ID][]byte) (map[envelope.ID]string, error) {
	keys := map[envelope.ID]string{}
	for id, p := range payloads {
		if len(p) <= inlinePayload {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		key := payloadKey(id, p)
		if err := s.r2Put(ctx, key, p); err != nil {
			return nil, fmt.Errorf("envelope %s: payload of %d bytes: %w", id, len(p), err)
		}
		keys[id] = key
	}
	return keys, nil
}

// payloadHead returns a payloads row's bytes, from R2 if the row names an
// object.
func (s *Store) payloadHead(ctx context.Context, data string) ([]byte, error) {
	if key, ok := strings.CutPrefix(data, r2Ref); ok {
		return s.object(ctx, key)
	}
	return hexBytes(data)
}

// dropPayload deletes an envelope's payload row and, once the batch committed,
// its R2 object if it has one.
func (w *wtx) dropPayload(key string) error {
	rows, err := w.query("SELECT CASE WHEN data LIKE 'r2:%' THEN data END AS ref FROM payloads WHERE id = ?", key)
	if err != nil {
		return err
	}
	w.exec("DELETE FROM payloads WHERE id = ?", key)
	if len(rows) == 1 {
		if obj, ok := strings.CutPrefix(rows[0].str("ref"), r2Ref); ok {
			w.after = append(w.after, func(ctx context.Context) { w.s.r2Delete(ctx, obj) })
		}
	}
	return nil
}

// checkRowSizes refuses a batch with a value D1 would refuse, before sending
// it, with an error that names the limit.
func checkRowSizes(stmts []stmt) error {
	for _, st := range stmts {
		n := 0
		for _, a := range st.Args {
			switch v := a.(type) {
			case string:
				n += len(v)
			case []byte:
				n += len(v)
			}
		}
		if n > maxRowBytes {
			verb, _, _ := strings.Cut(strings.TrimSpace(st.SQL), " (")
			return fmt.Errorf("%w: %s with %d bytes", ErrRowTooLarge, verb, n)
		}
	}
	return nil
}

func hexBytes(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	return b, nil
}
