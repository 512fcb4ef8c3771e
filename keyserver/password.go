package keyserver

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"github.com/waxseal/waxseal/locale"
	"strings"

	zxcvbn "github.com/ccojocar/zxcvbn-go"
	"github.com/ccojocar/zxcvbn-go/match"
	"github.com/ccojocar/zxcvbn-go/scoring"
	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Argon2Params are the argon2id cost parameters. The defaults follow the OWASP
// password storage recommendation (19 MiB, 2 passes, 1 lane).
type Argon2Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultArgon2 is used when the config sets none.
var DefaultArgon2 = Argon2Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

// hashPassword returns the PHC string form: $argon2id$v=19$m=..,t=..,p=..$salt$hash.
// The password is hashed in normalisation form C (normalizePassword).
func hashPassword(password string, p Argon2Params) string {
	return hashPasswordForm(normalizePassword(password), p)
}

func hashPasswordForm(password string, p Argon2Params) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	sum := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(sum))
}

// checkPassword verifies a password against a PHC string in constant time. The
// parameters come from the stored hash, so raising the defaults later keeps old
// hashes valid. Hashes are of the NFC form; a hash made before passwords were
// normalised may be of another form, which is tried when it differs.
func checkPassword(password, phc string) bool {
	if n := normalizePassword(password); n != password {
		if checkPasswordForm(n, phc) {
			return true
		}
	}
	return checkPasswordForm(password, phc)
}

func checkPasswordForm(password, phc string) bool {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var p Argon2Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || p.Time == 0 || p.Threads == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// The password policy follows NIST SP 800-63B: a minimum length, a generous
// maximum, any Unicode, no composition rules, and a refusal of passwords that
// attackers try first. That check is zxcvbn's (github.com/ccojocar/zxcvbn-go):
// its dictionaries hold the most common passwords of public breaches, English
// words, names and surnames, and it recognises keyboard rows, sequences, repeats,
// dates and l33t spellings, and the person's own email address and name.
const (
	// maxPasswordRunes is far above the 64 characters NIST asks verifiers to
	// allow, and keeps the strength estimate (growing faster than the length)
	// to a few milliseconds per window.
	maxPasswordRunes = 256
	// passwordWindow is how many characters zxcvbn looks at in one go: it takes
	// about 10 ms for 64 and a quarter of a second for 100.
	passwordWindow = 64
	// minPasswordScore is zxcvbn's score 3 of 0-4, "safely unguessable":
	// about 10^8 guesses, out of reach of online guessing and costly offline
	// against argon2id.
	minPasswordScore = 3
)

// normalizePassword puts a password in Unicode normalisation form C, so that
// "é" typed as one character or as "e" and a combining accent (keyboards and
// systems differ) is the same password.
func normalizePassword(pw string) string { return norm.NFC.String(pw) }

// passwordRefusal says why a (normalised) password may not be used, in
// English, or "" when it may.
func passwordRefusal(pw string, minRunes int, personal []string) string {
	if m := passwordProblem(pw, minRunes, personal); m != nil {
		return m.In(locale.English())
	}
	return ""
}

// passwordProblem says why a (normalised) password may not be used, as a
// catalog message, or nil when it may. personal are words of the account
// (email address, names) that make a password easy to guess for this person.
func passwordProblem(pw string, minRunes int, personal []string) *Msg {
	runes := []rune(pw)
	switch {
	case len(runes) < minRunes:
		return &Msg{"refusal.password_short", []any{"Count", minRunes}}
	case len(runes) > maxPasswordRunes:
		return &Msg{"refusal.password_long", []any{"Count", maxPasswordRunes}}
	}
	var inputs []string
	for _, p := range personal {
		inputs = append(inputs, strings.ToLower(p))
		if local, domain, ok := strings.Cut(p, "@"); ok {
			inputs = append(inputs, strings.ToLower(local), strings.ToLower(domain))
		}
	}
	// A longer password is strong enough when any of its windows is: the rest
	// only adds to what an attacker must guess.
	var weakest scoring.MinEntropyMatch
	for start := 0; start < len(runes); start += passwordWindow {
		w := string(runes[start:min(start+passwordWindow, len(runes))])
		if start > 0 && len([]rune(w)) < passwordWindow/2 {
			break // a short tail alone says nothing about the whole
		}
		r := zxcvbn.PasswordStrength(w, inputs)
		if r.Score >= minPasswordScore {
			return nil
		}
		if start == 0 {
			weakest = r
		}
	}
	return &Msg{"refusal.password_weak", []any{"Why", weaknesses(weakest.MatchSequence)}}
}

// weaknesses names what zxcvbn found in a password, in plain words.
func weaknesses(seq []match.Match) []Msg {
	var why []Msg
	seen := map[string]bool{}
	add := func(id string, args ...any) {
		if k := id + "\x00" + fmt.Sprintf("%v", args...); !seen[k] {
			seen[k] = true
			why = append(why, Msg{id, args})
		}
	}
	for _, m := range seq {
		switch {
		case m.DictionaryName == "Passwords":
			add("password.common", "Token", m.Token)
		case m.DictionaryName == "user_inputs":
			add("password.personal")
		case m.Pattern == "dictionary":
			add("password.dictionary")
		case m.Pattern == "sequence":
			add("password.sequence")
		case m.Pattern == "repeat":
			add("password.repeat")
		case m.Pattern == "spatial":
			add("password.spatial")
		case m.Pattern == "date":
			add("password.date")
		}
	}
	if len(why) == 0 {
		return []Msg{{"password.simple", nil}}
	}
	return why
}
