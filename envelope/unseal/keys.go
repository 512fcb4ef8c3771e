package unseal

import (
	"encoding/base64"
	"errors"

	"github.com/waxseal/waxseal/envelope/internal/detail"
)

// ID identifies one recipient's envelope: 128 random bits, written as 32 lowercase
// hex digits.
type ID [16]byte

const hexDigits = "0123456789abcdef"

func (id ID) String() string {
	b := make([]byte, 2*len(id))
	for i, c := range id {
		b[2*i], b[2*i+1] = hexDigits[c>>4], hexDigits[c&15]
	}
	return string(b)
}

// IsZero reports whether id is unset.
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses the 32-hex-digit form of an ID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return id, errors.New("envelope id " + detail.Quote(s, 40) + ": want 32 hex digits")
	}
	for i := range id {
		hi, lo := hexValue(s[2*i]), hexValue(s[2*i+1])
		if hi < 0 || lo < 0 {
			return ID{}, errors.New("envelope id " + detail.Quote(s, 40) + ": want lowercase hex digits")
		}
		id[i] = byte(hi<<4 | lo)
	}
	return id, nil
}

func hexValue(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
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
// String method, so that formatting a struct holding one never prints it by
// accident in a readable form; use EncodeKey where a key must be written down.
type Key [32]byte

// EncodeKey writes k as unpadded base64url (43 characters), the form used in "#k="
// fragments and in the key server API.
func EncodeKey(k Key) string { return base64.RawURLEncoding.EncodeToString(k[:]) }

// ParseKey parses the unpadded base64url form of a key.
func ParseKey(s string) (Key, error) {
	var k Key
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != len(k) {
		return k, detail.Wrap(ErrBadKey, "want 32 bytes as unpadded base64url")
	}
	copy(k[:], b)
	return k, nil
}
