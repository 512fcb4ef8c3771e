// Package reply is the gateway's half of a waxseal reply (docs/FORMAT.md, "Reply
// v1"): the organisation's reply key pairs, and opening a reply the recipient's
// browser sealed with package compose. The key server stores sealed replies but
// never holds a reply private key, so it can never read one.
package reply

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"

	"github.com/waxseal/waxseal/envelope/reply/compose"
)

// Limits of Reply v1.
const (
	MaxMessage = compose.MaxMessage
	MaxSealed  = compose.MaxMessage + compose.Overhead
)

// Errors of opening, named as in FORMAT.md "Reply v1".
var (
	ErrNotReply    = errors.New("not a waxseal reply")
	ErrUnsupported = errors.New("unsupported reply version")
	ErrTooLarge    = errors.New("reply is larger than the 10 MiB limit")
	ErrNoKey       = errors.New("no reply key opens this reply (wrong key or modified)")
)

// KeyPair is one reply key pair. The private key never leaves the gateway.
type KeyPair struct {
	Public, Private [32]byte
}

// GenerateKey makes a new reply key pair from crypto/rand.
func GenerateKey() (KeyPair, error) {
	pub, priv, err := box.GenerateKey(rand.Reader)
	if err != nil {
		return KeyPair{}, fmt.Errorf("generate reply key: %w", err)
	}
	return KeyPair{Public: *pub, Private: *priv}, nil
}

// FromPrivate completes a key pair from its private key.
func FromPrivate(priv [32]byte) (KeyPair, error) {
	pub, err := curve25519.X25519(priv[:], curve25519.Basepoint)
	if err != nil {
		return KeyPair{}, fmt.Errorf("reply key: %w", err)
	}
	kp := KeyPair{Private: priv}
	copy(kp.Public[:], pub)
	return kp, nil
}

// EncodeKey and DecodeKey are the text form of a key: unpadded base64url (§2 of
// FORMAT.md), as in the key server's config and the page.
func EncodeKey(k [32]byte) string { return base64.RawURLEncoding.EncodeToString(k[:]) }

// DecodeKey reads a key written by EncodeKey.
func DecodeKey(s string) ([32]byte, error) {
	var k [32]byte
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != 32 {
		return k, errors.New("reply key: want 32 bytes in unpadded base64url")
	}
	copy(k[:], b)
	return k, nil
}

// Open opens a sealed reply with the first of keys that opens it (a rotation
// leaves several: FORMAT.md "Reply v1"). It returns the RFC 5322 message the
// browser built; the caller trusts none of its addressing headers.
func Open(sealed []byte, keys []KeyPair) ([]byte, error) {
	if len(sealed) > MaxSealed {
		return nil, ErrTooLarge
	}
	if len(sealed) < len(compose.Magic) || !bytes.Equal(sealed[:3], []byte(compose.Magic[:3])) {
		return nil, ErrNotReply
	}
	if sealed[3] != compose.Magic[3] {
		return nil, ErrUnsupported
	}
	body := sealed[len(compose.Magic):]
	if len(body) < box.AnonymousOverhead {
		return nil, ErrNoKey
	}
	for i := range keys {
		if msg, ok := box.OpenAnonymous(nil, body, &keys[i].Public, &keys[i].Private); ok {
			return msg, nil
		}
	}
	return nil, ErrNoKey
}

// The reply key file (reply.key, beside master.key, mode 0600) holds one
// private key a line, in unpadded base64url, oldest first; lines starting with
// '#' are comments. The last key is the current one, whose public key is in the
// key server's config; the earlier ones still open replies sealed before a
// rotation, until an operator deletes their lines.

// LoadKeys reads a reply key file, newest key first (the order Open tries them).
func LoadKeys(path string) ([]KeyPair, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read reply keys: %w", err)
	}
	var keys []KeyPair
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		priv, err := DecodeKey(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n+1, err)
		}
		kp, err := FromPrivate(priv)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n+1, err)
		}
		keys = append([]KeyPair{kp}, keys...)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no reply key", path)
	}
	return keys, nil
}

// AddKey appends a new key pair to the reply key file, creating it with mode
// 0600 if needed, syncs it, and returns the pair (its public key goes into the
// key server's config).
func AddKey(path string) (KeyPair, error) {
	kp, err := GenerateKey()
	if err != nil {
		return KeyPair{}, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return KeyPair{}, fmt.Errorf("open reply keys: %w", err)
	}
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		f.Close()
		return KeyPair{}, fmt.Errorf("%s is readable by others (mode %v): chmod 600 it first", path, fi.Mode().Perm())
	}
	if _, err := fmt.Fprintln(f, EncodeKey(kp.Private)); err != nil {
		f.Close()
		return KeyPair{}, fmt.Errorf("write reply key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return KeyPair{}, fmt.Errorf("write reply key: %w", err)
	}
	if err := f.Close(); err != nil {
		return KeyPair{}, fmt.Errorf("write reply key: %w", err)
	}
	return kp, nil
}
