// Package compose is the browser's half of a waxseal reply (docs/FORMAT.md,
// "Reply v1"): it builds the RFC 5322 message from what the recipient wrote and
// seals it to the organisation's reply public key. It is linked into the
// decryptor, so it uses nothing heavier than the decryptor already links
// (no fmt, time, mime, crypto/rand, nor x/crypto/nacl/box, which pulls in
// crypto/ecdh): X25519 and the one BLAKE2b call are local (x25519.go,
// blake2b.go), the rest is salsa20 and secretbox, which it links already. The gateway opens replies with package reply, which uses x/crypto's
// box: two implementations, checked against each other by the tests.
package compose

import (
	"errors"
	"io"

	"golang.org/x/crypto/nacl/secretbox"
	//lint:ignore SA1019 HSalsa20 is what NaCl's crypto_box_beforenm is; box itself would link crypto/ecdh
	"golang.org/x/crypto/salsa20/salsa"
)

// Format constants of Reply v1 (docs/FORMAT.md).
const (
	// Magic starts every sealed reply: "wxr" and the version byte 1.
	Magic = "wxr\x01"
	// MaxMessage is the largest message a reply may carry (RFC 5322 bytes, so
	// attachments count base64-encoded): the gateway's default message limit.
	MaxMessage = 10 << 20
	// Overhead is what sealing adds: magic, ephemeral public key, Poly1305 tag.
	Overhead = len(Magic) + 32 + secretbox.Overhead
)

var (
	// ErrTooLarge: the message is over MaxMessage.
	ErrTooLarge = errors.New("reply is larger than the 10 MiB limit")
	// ErrBadPublicKey: the reply public key is not a usable X25519 key.
	ErrBadPublicKey = errors.New("reply public key is not a valid X25519 key")
)

// Seal seals msg to the reply public key pub: Magic ‖ epk ‖ secretbox(msg) under
// HSalsa20(X25519(esk, pub)) with nonce BLAKE2b-192(epk ‖ pub), byte for byte what
// NaCl's crypto_box_seal (and x/crypto's box.SealAnonymous) puts after the magic.
// rand supplies the 32-byte ephemeral secret; in the browser it is
// crypto.getRandomValues.
func Seal(msg []byte, pub *[32]byte, rand io.Reader) ([]byte, error) {
	out, key, err := seal(msg, pub, rand)
	clear(key[:])
	return out, err
}

// seal is Seal that also returns the box's key, for the recipient's copy.
func seal(msg []byte, pub *[32]byte, rand io.Reader) ([]byte, [32]byte, error) {
	var key [32]byte
	if len(msg) > MaxMessage {
		return nil, key, ErrTooLarge
	}
	var esk [32]byte
	if _, err := io.ReadFull(rand, esk[:]); err != nil {
		return nil, key, errors.New("reply: no randomness: " + err.Error())
	}
	epk := x25519(&esk, &basePoint)
	shared := x25519(&esk, pub)
	clear(esk[:])
	var zero byte
	for _, b := range shared {
		zero |= b
	}
	if zero == 0 { // a low-order point: the "shared" key would be public
		return nil, key, ErrBadPublicKey
	}
	salsa.HSalsa20(&key, new([16]byte), &shared, &salsa.Sigma)
	clear(shared[:])
	nonce := nonceHash(&epk, pub)
	out := make([]byte, 0, len(msg)+Overhead)
	out = append(out, Magic...)
	out = append(out, epk[:]...)
	out = secretbox.Seal(out, msg, &nonce, &key)
	return out, key, nil
}

// PublicKey derives the public key of a private one (used by tests and by the
// command line, which must not need x/crypto/curve25519 to agree).
func PublicKey(priv *[32]byte) [32]byte { return x25519(priv, &basePoint) }
