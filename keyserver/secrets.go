package keyserver

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"

	"golang.org/x/crypto/nacl/secretbox"

	"github.com/waxseal/waxseal/envelope"
)

// MasterKeySize is the size of the master key file's secret.
const MasterKeySize = 32

// LoadMasterKey reads the master key file, refusing one that others can read.
func LoadMasterKey(path string) ([MasterKeySize]byte, error) {
	var k [MasterKeySize]byte
	st, err := os.Stat(path)
	if err != nil {
		return k, fmt.Errorf("master key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return k, fmt.Errorf("master key %s: permissions %v are too open, want 0600", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return k, fmt.Errorf("master key: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(raw) != MasterKeySize {
		return k, fmt.Errorf("master key %s: want %d bytes of base64", path, MasterKeySize)
	}
	copy(k[:], raw)
	return k, nil
}

// WriteMasterKey creates a new master key file with mode 0600; it never overwrites.
func WriteMasterKey(path string) error {
	var k [MasterKeySize]byte
	rand.Read(k[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create master key: %w", err)
	}
	if _, err := fmt.Fprintln(f, base64.StdEncoding.EncodeToString(k[:])); err != nil {
		f.Close()
		return fmt.Errorf("write master key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write master key: %w", err)
	}
	return f.Close()
}

// keyring holds the keys derived from the master key, one per purpose.
type keyring struct {
	wrap  []byte // derives per-envelope keys that wrap k_srv
	check []byte // MACs k_srv to recognise a repeated registration
	codes []byte // MACs emailed codes
	// signin seals passkey sign-in ceremonies (signintoken.go).
	signin []byte
	// threads keys the hashes of sealed messages' Message-IDs (threads.go)
	threads []byte
}

func newKeyring(master [MasterKeySize]byte) keyring {
	derive := func(info string) []byte {
		k, err := hkdf.Key(sha256.New, master[:], nil, "waxseal keyserver "+info, 32)
		if err != nil {
			panic(err)
		}
		return k
	}
	return keyring{
		wrap:    derive("wrap k_srv"),
		check:   derive("k_srv check"),
		codes:   derive("code mac"),
		signin:  derive("signin ceremony"),
		threads: derive("thread id"),
	}
}

// envelopeKey binds the wrapping to the envelope id, so a wrapped key copied onto
// another record in the database does not unwrap.
func (kr keyring) envelopeKey(id envelope.ID) *[32]byte {
	m := hmac.New(sha256.New, kr.wrap)
	m.Write(id[:])
	return (*[32]byte)(m.Sum(nil))
}

func (kr keyring) wrapServerKey(id envelope.ID, k envelope.Key) []byte {
	var nonce [24]byte
	rand.Read(nonce[:])
	return secretbox.Seal(nonce[:], k[:], &nonce, kr.envelopeKey(id))
}

var errUnwrap = errors.New("stored server key does not unwrap (wrong master key or damaged record)")

func (kr keyring) unwrapServerKey(id envelope.ID, wrapped []byte) (envelope.Key, error) {
	var k envelope.Key
	if len(wrapped) != 24+32+secretbox.Overhead {
		return k, errUnwrap
	}
	out, ok := secretbox.Open(nil, wrapped[24:], (*[24]byte)(wrapped[:24]), kr.envelopeKey(id))
	if !ok {
		return k, errUnwrap
	}
	copy(k[:], out)
	return k, nil
}

func (kr keyring) keyCheck(id envelope.ID, k envelope.Key) []byte {
	m := hmac.New(sha256.New, kr.check)
	m.Write(id[:])
	m.Write(k[:])
	return m.Sum(nil)
}

func (kr keyring) codeMAC(purpose CodePurpose, email, code string) []byte {
	m := hmac.New(sha256.New, kr.codes)
	fmt.Fprintf(m, "%s\x00%s\x00%s", purpose, email, code)
	return m.Sum(nil)
}

// newCode returns a uniformly random 6-digit code.
func newCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("%06d", n.Int64())
}

// newToken returns a random bearer or session token and its hash.
func newToken() (token string, hash []byte) {
	var b [32]byte
	rand.Read(b[:])
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, hashToken(token)
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// HashToken is how API tokens are written in the config file: "sha256:" and hex.
func HashToken(token string) string { return "sha256:" + hex.EncodeToString(hashToken(token)) }

// NewAPIToken returns a fresh API token (for `waxseal init`).
func NewAPIToken() string { t, _ := newToken(); return t }

// tokenSet checks bearer tokens against configured hashes in constant time.
type tokenSet [][]byte

func parseTokenSet(hashes []string) (tokenSet, error) {
	var ts tokenSet
	for _, h := range hashes {
		hexPart, ok := strings.CutPrefix(h, "sha256:")
		b, err := hex.DecodeString(hexPart)
		if !ok || err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("token hash %.20q: want sha256:<64 hex digits>", h)
		}
		ts = append(ts, b)
	}
	return ts, nil
}

func (ts tokenSet) valid(token string) bool {
	if token == "" {
		return false
	}
	h := hashToken(token)
	ok := 0
	for _, want := range ts {
		ok |= subtle.ConstantTimeCompare(h, want)
	}
	return ok == 1
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
