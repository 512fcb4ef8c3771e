package keyserver

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"golang.org/x/crypto/nacl/secretbox"
)

// A discoverable passkey sign-in begins without an account, so whatever it stores
// anyone can fill. Its ceremony id is instead the session data itself, sealed with
// a key only this server (and its replicas, which share the master key) holds: the
// server can check that it made it, when it expires, and which challenge it asked
// to be signed, without having stored anything.

// signinTokenPrefix marks a sealed sign-in ceremony; stored ceremonies have hex ids.
const signinTokenPrefix = "s."

type signinToken struct {
	Expires int64                `json:"exp"` // Unix seconds
	Data    webauthn.SessionData `json:"data"`
}

func (kr keyring) sealSignIn(data *webauthn.SessionData, expires time.Time) (string, error) {
	plain, err := json.Marshal(signinToken{Expires: expires.Unix(), Data: *data})
	if err != nil {
		return "", fmt.Errorf("sign-in ceremony: %w", err)
	}
	var nonce [24]byte
	rand.Read(nonce[:])
	sealed := secretbox.Seal(nonce[:], plain, &nonce, (*[32]byte)(kr.signin))
	return signinTokenPrefix + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// openSignIn returns the session data of a sign-in ceremony this server began and
// that has not expired, or ErrCeremonyExpired.
func (kr keyring) openSignIn(token string, now time.Time) (*webauthn.SessionData, time.Time, error) {
	rest, ok := strings.CutPrefix(token, signinTokenPrefix)
	if !ok || len(rest) > 4096 {
		return nil, time.Time{}, ErrCeremonyExpired
	}
	sealed, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(sealed) < 24+secretbox.Overhead {
		return nil, time.Time{}, ErrCeremonyExpired
	}
	plain, ok := secretbox.Open(nil, sealed[24:], (*[24]byte)(sealed[:24]), (*[32]byte)(kr.signin))
	if !ok {
		return nil, time.Time{}, ErrCeremonyExpired
	}
	var t signinToken
	if err := json.Unmarshal(plain, &t); err != nil {
		return nil, time.Time{}, ErrCeremonyExpired
	}
	expires := time.Unix(t.Expires, 0)
	if !now.Before(expires) {
		return nil, time.Time{}, ErrCeremonyExpired
	}
	return &t.Data, expires, nil
}

// SpentSignIn is a sign-in ceremony an account's passkey finished, kept until the
// ceremony expires so that its assertion is not accepted a second time.
type SpentSignIn struct {
	Challenge []byte    `json:"c"` // SHA-256 of the challenge, first 16 bytes
	Expires   time.Time `json:"exp"`
}

// maxSpentSignIns bounds an account's spent ceremonies: more passkey sign-ins than
// this within one ceremony lifetime are refused until the oldest expire. Only the
// passkey's holder can make them.
const maxSpentSignIns = 32

// spendSignIn records a finished sign-in ceremony in its account (inside the
// account's update, so it is atomic with the sign counter, and shared by every
// replica through the store), or refuses one recorded already.
func spendSignIn(a *Account, challenge string, expires, now time.Time) error {
	sum := sha256.Sum256([]byte(challenge))
	var kept []SpentSignIn // a new slice: a may share its own with a cache
	for _, sp := range a.SpentSignIns {
		if now.Before(sp.Expires) {
			kept = append(kept, sp)
		}
	}
	a.SpentSignIns = kept
	for _, sp := range kept {
		if string(sp.Challenge) == string(sum[:16]) {
			return ErrCeremonyExpired
		}
	}
	if len(kept) >= maxSpentSignIns {
		e := ErrRateLimited.With("refusal.passkey_signins")
		e.RetryAfter = time.Minute
		return e
	}
	a.SpentSignIns = append(a.SpentSignIns, SpentSignIn{Challenge: sum[:16], Expires: expires})
	return nil
}
