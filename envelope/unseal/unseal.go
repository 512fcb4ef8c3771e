// Package unseal reads and opens waxseal envelopes (docs/FORMAT.md): the
// securedoc.html container, the form fields it posts, and the "open online" blob.
//
// It is the read side of package envelope, kept apart so that the browser
// decryptor can link it alone: it uses nothing beyond what a small WebAssembly
// module can afford (no fmt, encoding/json, time, net/url, crypto/rand or
// crypto/sha256, each of which adds tens to hundreds of kilobytes). Package
// envelope uses it for all reading, so there is one reader.
package unseal

import (
	"crypto/subtle"
	"errors"

	"golang.org/x/crypto/nacl/secretbox"

	"github.com/waxseal/waxseal/envelope/internal/detail"
	"github.com/waxseal/waxseal/envelope/internal/kdf"
	"github.com/waxseal/waxseal/envelope/internal/stream"
)

// Version is the envelope format version this package reads.
const Version = 1

// KeyBlockSize is the size of an envelope's key block: a key check value and the
// sealed payload key.
const KeyBlockSize = kdf.CheckSize + 32 + secretbox.Overhead

// Errors returned when an envelope cannot be parsed or opened. Each names one
// distinct failure, so that callers (and people) can tell them apart with errors.Is.
var (
	ErrNotEnvelope        = errors.New("not a waxseal envelope")
	ErrUnsupportedVersion = errors.New("unsupported envelope version")
	ErrMalformed          = errors.New("malformed envelope")
	ErrBadBase64          = errors.New("envelope field is not valid base64")
	ErrBadKey             = errors.New("malformed key")
	ErrWrongKey           = errors.New("wrong key: these keys do not open this envelope")
	ErrHeaderModified     = errors.New("envelope header was modified")

	ErrTruncated       = stream.ErrTruncated
	ErrAppended        = stream.ErrAppended
	ErrOutOfOrder      = stream.ErrOutOfOrder
	ErrChunkModified   = stream.ErrModified
	ErrLastFlagMissing = stream.ErrLastFlagMissing
	ErrLastFlagEarly   = stream.ErrLastFlagEarly
)

// File is an envelope as read from one of its containers: the parsed header, its
// exact bytes, the key block, k_env (zero until known) and the ciphertext.
type File struct {
	Header     Header
	HeaderJSON []byte
	KeyBlock   []byte
	EnvKey     Key
	Ciphertext []byte
	// Online: the file says its ciphertext is also stored at the key server
	// (docs/FORMAT.md §7.5). Unauthenticated, like the rest of the page.
	Online bool
}

// Open authenticates and decrypts the file with its k_env and the key server's
// k_srv, returning the original message bytes.
func (f *File) Open(serverKey Key) ([]byte, error) {
	k, err := Unwrap(f.Header.ID, f.HeaderJSON, f.KeyBlock, f.EnvKey, serverKey)
	if err != nil {
		return nil, detail.Prefix("open envelope "+f.Header.ID.String(), err)
	}
	pk := [32]byte(k)
	// stream.Open checks the length before it allocates: a header claiming a huge
	// size costs nothing unless the ciphertext is that large too.
	msg, err := stream.Open(nil, f.Ciphertext, &pk, f.Header.Size)
	if err != nil {
		return nil, detail.Prefix("open envelope "+f.Header.ID.String()+": decrypt payload", err)
	}
	return msg, nil
}

// Unwrap recovers the payload key from a key block with both key halves. It tells
// a wrong key (ErrWrongKey) from a header or key block that was changed
// (ErrHeaderModified).
func Unwrap(id ID, headerJSON, keyBlock []byte, envKey, serverKey Key) (Key, error) {
	if len(keyBlock) != KeyBlockSize {
		return Key{}, keyBlockSizeError(len(keyBlock))
	}
	srv, env, raw := [32]byte(serverKey), [32]byte(envKey), [16]byte(id)
	keys, err := kdf.Derive(&srv, &env, &raw, headerJSON)
	if err != nil {
		return Key{}, err
	}
	if subtle.ConstantTimeCompare(keys.Check[:], keyBlock[:kdf.CheckSize]) != 1 {
		return Key{}, ErrWrongKey
	}
	pk, ok := secretbox.Open(nil, keyBlock[kdf.CheckSize:], new([24]byte), &keys.KEK)
	if !ok {
		return Key{}, ErrHeaderModified
	}
	return Key(pk), nil
}

func keyBlockSizeError(n int) error {
	return detail.Wrap(ErrMalformed, "key block is ", detail.Int(n), " bytes, want ", detail.Int(KeyBlockSize))
}

// ReplyCopyKey derives k_copy, the key of the recipient's copies of their
// replies to envelope id (FORMAT.md "Reply v1", the recipient's copy), from
// both key halves: only someone who can open the envelope can read them.
func ReplyCopyKey(id ID, envKey, serverKey Key) (Key, error) {
	srv, env, raw := [32]byte(serverKey), [32]byte(envKey), [16]byte(id)
	k, err := kdf.CopyKey(&srv, &env, &raw)
	if err != nil {
		return Key{}, err
	}
	return Key(k), nil
}
