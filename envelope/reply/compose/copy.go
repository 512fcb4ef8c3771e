package compose

import (
	"errors"
	"io"

	"golang.org/x/crypto/nacl/secretbox"
)

// The recipient's copy of a reply (docs/FORMAT.md "Reply v1", the recipient's
// copy): the same message the reply carries, sealed a second time under k_copy,
// a key only someone who can open the original envelope derives (package
// unseal, ReplyCopyKey). The key server stores it beside the reply and hands it
// back to the recipient's page; it can read it no more than the reply.
const (
	// CopyMagic starts every copy: "wxc" and the version byte 1.
	CopyMagic = "wxc\x01"
	// CopyOverhead is what SealCopy adds: magic, nonce, Poly1305 tag.
	CopyOverhead = len(CopyMagic) + 24 + secretbox.Overhead
	// MaxCopy is the largest copy.
	MaxCopy = MaxMessage + CopyOverhead
)

// Errors of OpenCopy, named as in FORMAT.md.
var (
	ErrNotCopy         = errors.New("not a waxseal reply copy")
	ErrCopyUnsupported = errors.New("unsupported reply copy version")
	ErrCopyNotOpened   = errors.New("reply copy does not open (wrong key or modified)")
	ErrCopyTooLarge    = errors.New("reply copy is larger than the 10 MiB limit")
)

// SealCopy seals msg under k_copy: CopyMagic ‖ nonce ‖ secretbox(msg), with a
// fresh random 24-byte nonce (one k_copy seals every copy of an envelope's
// replies; random XSalsa20 nonces do not repeat in practice).
func SealCopy(msg []byte, key *[32]byte, rand io.Reader) ([]byte, error) {
	if len(msg) > MaxMessage {
		return nil, ErrTooLarge
	}
	var nonce [24]byte
	if _, err := io.ReadFull(rand, nonce[:]); err != nil {
		return nil, errors.New("reply copy: no randomness: " + err.Error())
	}
	out := make([]byte, 0, len(msg)+CopyOverhead)
	out = append(out, CopyMagic...)
	out = append(out, nonce[:]...)
	return secretbox.Seal(out, msg, &nonce, key), nil
}

// OpenCopy opens a copy SealCopy made with the same key.
func OpenCopy(sealed []byte, key *[32]byte) ([]byte, error) {
	switch {
	case len(sealed) > MaxCopy:
		return nil, ErrCopyTooLarge
	case len(sealed) < len(CopyMagic) || string(sealed[:3]) != CopyMagic[:3]:
		return nil, ErrNotCopy
	case sealed[3] != CopyMagic[3]:
		return nil, ErrCopyUnsupported
	case len(sealed) < CopyOverhead:
		return nil, ErrCopyNotOpened
	}
	var nonce [24]byte
	copy(nonce[:], sealed[len(CopyMagic):])
	msg, ok := secretbox.Open(nil, sealed[len(CopyMagic)+24:], &nonce, key)
	if !ok {
		return nil, ErrCopyNotOpened
	}
	return msg, nil
}
