package envelope

import (
	"crypto/rand"

	"github.com/waxseal/waxseal/envelope/unseal"
)

// ID identifies one recipient's envelope: 128 random bits, written as 32 lowercase
// hex digits.
type ID = unseal.ID

// NewID returns a random ID.
func NewID() ID {
	var id ID
	rand.Read(id[:])
	return id
}

// ParseID parses the 32-hex-digit form of an ID.
func ParseID(s string) (ID, error) { return unseal.ParseID(s) }

// Key is a 256-bit secret: k_env, k_srv or a payload key. It deliberately has no
// String method, so that formatting a struct holding one never prints it by accident
// in a readable form; use EncodeKey where a key must be written down.
type Key = unseal.Key

func newKey() Key {
	var k Key
	rand.Read(k[:])
	return k
}

// EncodeKey writes k as unpadded base64url (43 characters), the form used in
// "#k=" fragments and in the key server API.
func EncodeKey(k Key) string { return unseal.EncodeKey(k) }

// ParseKey parses the unpadded base64url form of a key.
func ParseKey(s string) (Key, error) { return unseal.ParseKey(s) }

// Keys are the two halves of an envelope's key. Neither alone opens it.
type Keys struct {
	Env    Key // k_env: in the envelope file and in the open-online link's fragment
	Server Key // k_srv: only at the key server
}
