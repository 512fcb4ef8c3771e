package envelope

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// ID identifies one recipient's envelope: 128 random bits, written as 32 lowercase
// hex digits.
type ID [16]byte

// NewID returns a random ID.
func NewID() ID {
	var id ID
	rand.Read(id[:])
	return id
}

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is unset.
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses the 32-hex-digit form of an ID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("envelope id %.40q: want %d hex digits", s, 2*len(id))
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return id, fmt.Errorf("envelope id %.40q: want lowercase hex digits", s)
		}
	}
	hex.Decode(id[:], []byte(s))
	return id, nil
}

func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

func (id *ID) UnmarshalText(b []byte) error {
	parsed, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = parsed
	return nil
}

// Key is a 256-bit secret: k_env, k_srv or a payload key. It deliberately has no
// String method, so that formatting a struct holding one never prints it by accident
// in a readable form; use EncodeKey where a key must be written down.
type Key [32]byte

func newKey() Key {
	var k Key
	rand.Read(k[:])
	return k
}

// EncodeKey writes k as unpadded base64url (43 characters), the form used in
// "#k=" fragments and in the key server API.
func EncodeKey(k Key) string { return base64.RawURLEncoding.EncodeToString(k[:]) }

// ParseKey parses the unpadded base64url form of a key.
func ParseKey(s string) (Key, error) {
	var k Key
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != len(k) {
		return k, fmt.Errorf("%w: want %d bytes as unpadded base64url", ErrBadKey, len(k))
	}
	copy(k[:], b)
	return k, nil
}

// Keys are the two halves of an envelope's key. Neither alone opens it.
type Keys struct {
	Env    Key // k_env: in the envelope file and in the open-online link's fragment
	Server Key // k_srv: only at the key server
}
