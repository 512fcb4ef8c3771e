// Package kdf derives an envelope's key-encryption key and key check value
// (docs/FORMAT.md §5) with HKDF-SHA-256.
//
// In the browser it asks WebCrypto, which the browser already has, instead of
// compiling Go's crypto/sha256 and crypto/hkdf into the decryptor: they bring the
// FIPS 140 module along and would add about 130 KB (gzip) to it. Both
// implementations run against the same test vectors.
package kdf

const (
	// KEKInfo is HKDF's info for the KEK; the SHA-256 of the header follows it.
	KEKInfo = "waxseal v1"
	// CheckInfo is HKDF's info for the key check value.
	CheckInfo = "waxseal v1 key check"
	// CheckSize is the size of the key check value.
	CheckSize = 16
	// CopyInfo is HKDF's info for the key of the recipient's copies of their
	// replies (FORMAT.md "Reply v1", the recipient's copy).
	CopyInfo = "waxseal v1 reply copy"
)

// Keys are what Derive returns.
type Keys struct {
	KEK   [32]byte
	Check [CheckSize]byte
}

// Derive computes, with ikm = k_srv || k_env and salt = the envelope id:
//
//	KEK   = HKDF-SHA-256(ikm, salt, KEKInfo || SHA-256(header), 32)
//	check = HKDF-SHA-256(ikm, salt, CheckInfo, 16)
//
// The KEK is bound to the exact header bytes; the check value only to the keys and
// id, so that a wrong key can be told from a changed header.
func Derive(serverKey, envKey *[32]byte, id *[16]byte, header []byte) (Keys, error) {
	return derive(serverKey, envKey, id, header)
}

// CopyKey computes the key of the recipient's copies of their replies to an
// envelope, from the same ikm and salt as Derive:
//
//	k_copy = HKDF-SHA-256(k_srv || k_env, id, CopyInfo, 32)
//
// Only someone holding both halves (someone who could open the envelope) can
// derive it; the key server, which holds k_srv alone, cannot.
func CopyKey(serverKey, envKey *[32]byte, id *[16]byte) ([32]byte, error) {
	return copyKey(serverKey, envKey, id)
}
