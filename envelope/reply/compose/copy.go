package compose

import (
	"errors"
	"io"

	"golang.org/x/crypto/nacl/secretbox"
)

// The recipient's copy of a reply (docs/FORMAT.md §13.5). The reply is sealed to
// the organisation, so its author could not read it back; rather than seal the
// message a second time, the page wraps the reply's own box key k (and the reply
// public key pk it was sealed to, which its nonce needs) under k_copy, a key only
// someone who can open the original envelope derives (package unseal,
// ReplyCopyKey):
//
//	wrap = CopyMagic ‖ nonce (24, random) ‖ secretbox(k_copy, nonce, k ‖ pk)
//	copy = wrap ‖ the sealed reply
//
// The key server keeps the wrap and the sealed reply until the envelope's
// replies are swept, and hands the copy back to the recipient's page only.
const (
	// CopyMagic starts every wrap: "wxk" and the version byte 1.
	CopyMagic = "wxk\x01"
	// WrapSize is the size of a wrap: magic, nonce, tag, k and pk.
	WrapSize = len(CopyMagic) + 24 + secretbox.Overhead + 64
	// MaxCopy is the largest copy: a wrap and the largest sealed reply.
	MaxCopy = WrapSize + MaxMessage + Overhead
)

// Errors of OpenCopy, named as in FORMAT.md §13.5.
var (
	ErrNotCopy         = errors.New("not a waxseal reply copy")
	ErrCopyUnsupported = errors.New("unsupported reply copy version")
	ErrCopyNotOpened   = errors.New("reply copy does not open (wrong key or modified)")
	ErrCopyTooLarge    = errors.New("reply copy is larger than the 10 MiB limit")
)

// SealWithCopy seals msg to the reply public key pub as Seal does, and returns
// with it the wrap of its box key under copyKey (k_copy): the recipient's copy
// is the wrap followed by the sealed reply.
func SealWithCopy(msg []byte, pub, copyKey *[32]byte, rand io.Reader) (sealed, wrap []byte, err error) {
	sealed, key, err := seal(msg, pub, rand)
	defer clear(key[:])
	if err != nil {
		return nil, nil, err
	}
	var nonce [24]byte
	if _, err := io.ReadFull(rand, nonce[:]); err != nil {
		return nil, nil, errors.New("reply: no randomness: " + err.Error())
	}
	var plain [64]byte
	copy(plain[:32], key[:])
	copy(plain[32:], pub[:])
	wrap = make([]byte, 0, WrapSize)
	wrap = append(wrap, CopyMagic...)
	wrap = append(wrap, nonce[:]...)
	wrap = secretbox.Seal(wrap, plain[:], &nonce, copyKey)
	clear(plain[:])
	return sealed, wrap, nil
}

// OpenCopy opens a recipient's copy (a wrap and the sealed reply) with k_copy
// and returns the message inside the reply.
func OpenCopy(c []byte, copyKey *[32]byte) ([]byte, error) {
	switch {
	case len(c) > MaxCopy:
		return nil, ErrCopyTooLarge
	case len(c) < len(CopyMagic) || string(c[:3]) != CopyMagic[:3]:
		return nil, ErrNotCopy
	case c[3] != CopyMagic[3]:
		return nil, ErrCopyUnsupported
	case len(c) < WrapSize+Overhead:
		return nil, ErrCopyNotOpened
	}
	var nonce [24]byte
	copy(nonce[:], c[len(CopyMagic):])
	plain, ok := secretbox.Open(nil, c[len(CopyMagic)+24:WrapSize], &nonce, copyKey)
	if !ok {
		return nil, ErrCopyNotOpened
	}
	key, pk := [32]byte(plain[:32]), [32]byte(plain[32:])
	clear(plain)
	defer clear(key[:])
	reply := c[WrapSize:]
	if string(reply[:len(Magic)]) != Magic {
		return nil, ErrCopyNotOpened
	}
	epk := [32]byte(reply[len(Magic) : len(Magic)+32])
	replyNonce := nonceHash(&epk, &pk)
	msg, ok := secretbox.Open(nil, reply[len(Magic)+32:], &replyNonce, &key)
	if !ok {
		return nil, ErrCopyNotOpened
	}
	return msg, nil
}
