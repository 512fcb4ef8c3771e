package keyserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/envelope/unseal"
	"github.com/waxseal/waxseal/keyserver/api"
)

// A message sealed for several recipients has one ciphertext. The gateway uploads
// it once, as binary, under its SHA-256 (PUT /api/v1/ciphertexts/{sha256}), and
// each envelope's registration carries only the head of its online blob (magic,
// header, key block: FORMAT.md §8) and the hash. The key server serves head and
// ciphertext together as the online blob. It never gets k_env, so it still holds
// nothing it can open.

// Refusals of shared-ciphertext uploads and of registrations referencing them.
var (
	ErrCiphertextTooLarge = (&Error{http.StatusRequestEntityTooLarge, api.CodeTooLarge, "The ciphertext is over the size limit.", 0, nil}).With("refusal.ciphertext_too_large")
	ErrHashMismatch       = (&Error{http.StatusBadRequest, api.CodeHashMismatch, "The ciphertext's SHA-256 is not the one in the path.", 0, nil}).With("refusal.hash_mismatch")
	ErrUnknownCiphertext  = (&Error{http.StatusBadRequest, api.CodeUnknownCiphertext, "An envelope references a ciphertext that was not uploaded (or was already deleted); upload it first.", 0, nil}).With("refusal.unknown_ciphertext")
)

// ciphertextGrace is how long an uploaded ciphertext that no envelope references
// is kept: a gateway registers its envelopes seconds after uploading (within its
// register timeout), so an hour is ample, and an upload whose registration never
// came (a failed or abandoned message) goes at the first sweep after it.
const ciphertextGrace = time.Hour

// PutCiphertext reads a message's ciphertext from r (at most MaxPayloadBytes;
// size, if not -1, is the announced length, which it must have) and stores it
// under sum once it is checked to be its SHA-256. Uploading it again is harmless.
func (s *Service) PutCiphertext(ctx context.Context, caller Caller, sum [32]byte, r io.Reader, size int64) error {
	clientIP := caller.IP
	max := s.cfg.MaxPayloadBytes
	if size > max {
		return ErrCiphertextTooLarge.With("refusal.ciphertext_over", "Size", size, "Max", max)
	}
	var buf bytes.Buffer
	if size > 0 {
		buf.Grow(int(size)) // one allocation, where growing by doubling copies it all again
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(&buf, h), io.LimitReader(r, max+1))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig) || n > max:
		return ErrCiphertextTooLarge.With("refusal.ciphertext_over_limit", "Max", max)
	case err != nil:
		return ErrBadRequest.With("refusal.ciphertext_unreadable", "Detail", err)
	case n == 0:
		return ErrBadRequest.With("refusal.ciphertext_empty")
	case size >= 0 && n != size:
		return ErrBadRequest.With("refusal.ciphertext_size", "Size", n, "Announced", size)
	}
	if !bytes.Equal(h.Sum(nil), sum[:]) {
		return ErrHashMismatch
	}
	if err := s.store.PutCiphertext(ctx, sum, buf.Bytes(), s.now()); err != nil {
		return fmt.Errorf("store ciphertext: %w", err)
	}
	s.log.DebugContext(ctx, "ciphertext stored", "sha256", hex.EncodeToString(sum[:]), "bytes", n, "client_ip", clientIP)
	return nil
}

// checkOnlineHead checks that head is the head of envelope id's online blob: the
// magic, the header's length, a header the format's reader accepts, naming id,
// and the key block, and nothing more. The key server cannot check more without
// k_env; this catches a gateway that sent the whole blob, another envelope's head,
// or something else where the head belongs.
func checkOnlineHead(id envelope.ID, head []byte) error {
	f, err := unseal.ParseOnline(head, unseal.Key{})
	switch {
	case err != nil:
		return err
	case len(f.Ciphertext) > 0:
		return fmt.Errorf("%d bytes after the key block", len(f.Ciphertext))
	case f.Header.ID != id:
		return fmt.Errorf("the head is envelope %s's", f.Header.ID)
	}
	return nil
}

// sweepCiphertexts deletes uploads that no registration came to reference.
func (s *Service) sweepCiphertexts(ctx context.Context, now time.Time) error {
	n, err := s.store.DeleteUnreferencedCiphertexts(ctx, now.Add(-ciphertextGrace))
	if err != nil {
		return fmt.Errorf("sweep ciphertexts: %w", err)
	}
	if n > 0 {
		s.log.InfoContext(ctx, "deleted unreferenced ciphertexts", "count", n)
	}
	return nil
}
