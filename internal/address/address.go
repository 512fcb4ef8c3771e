// Package address holds the one rule by which waxseal compares e-mail
// addresses, used by the gateway (at RCPT TO and MAIL FROM) and by the key
// server (envelopes, accounts, sign-in) alike.
//
// The rule (docs/API.md, "Addresses"):
//   - The domain's ASCII letters are folded to lower case; a domain ending in a
//     dot, or with an empty label, is refused.
//   - The local part is lower-cased (what every mail system does in practice,
//     and what waxseal did before): ASCII letters, and other letters by
//     Unicode's simple lower-case mapping, as strings.ToLower does. But nothing
//     non-ASCII is ever mapped to ASCII: a character whose lower case is ASCII
//     (the Kelvin sign U+212A would become "k", U+0130 "İ" would become "i")
//     makes the address refused, so that no address can stand for an ASCII one.
//   - A local part that is not in Unicode normalisation form C is refused (the
//     Kelvin sign is one: NFC would make it "K"), and so is one whose letters mix
//     scripts (Latin with Cyrillic, say), other than Han with Hiragana and
//     Katakana, Hangul or Bopomofo, as Japanese, Korean and Chinese are written.
//     Such addresses are refused rather than guessed at.
package address

import (
	"errors"
	"fmt"
	"net/mail"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// ErrInvalid is wrapped by every error Normalize returns.
var ErrInvalid = errors.New("invalid address")

// Reason names the rule an address broke. Reasons are stable, so that a caller
// can say them in its reader's language (the key server's catalogs do);
// Error's own words are English, for SMTP replies and logs.
type Reason string

const (
	NotUTF8        Reason = "not_utf8"
	Syntax         Reason = "syntax" // net/mail cannot read it (Error says how)
	NoDomain       Reason = "no_domain"
	DomainDot      Reason = "domain_dot" // the domain ends with a dot
	DomainEmpty    Reason = "domain_empty"
	EmptyLabel     Reason = "empty_label" // two dots in a row
	LocalEmpty     Reason = "local_empty"
	NotNFC         Reason = "not_nfc"         // a character that stands for another
	ASCIILookalike Reason = "ascii_lookalike" // Char lower-cases to an ASCII letter
	MixedScripts   Reason = "mixed_scripts"
)

// Error is why Normalize refused an address.
type Error struct {
	Input  string // the address as given, at most 80 bytes of it
	Reason Reason
	Char   rune // ASCIILookalike: the character
	words  string
}

func (e *Error) Error() string {
	if e.Reason == NotUTF8 {
		return ErrInvalid.Error() + ": " + e.words
	}
	return fmt.Sprintf("%v %q: %s", ErrInvalid, e.Input, e.words)
}

func (e *Error) Unwrap() error { return ErrInvalid }

// refuse is Normalize's refusal of s.
func refuse(s string, r Reason, words string) *Error {
	if len(s) > 80 {
		s = strings.ToValidUTF8(s[:80], "")
	}
	return &Error{Input: s, Reason: r, words: words}
}

// Normalize parses s, an addr-spec or a name-addr ("Name <addr>"), and returns
// its addr-spec in the form addresses are compared in. Its errors are *Error;
// their words are fit for an SMTP reply and quote at most 80 bytes of s.
func Normalize(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		return "", &Error{Reason: NotUTF8, words: "not valid UTF-8"}
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		r, words := explain(s, err)
		return "", refuse(s, r, words)
	}
	at := strings.LastIndexByte(a.Address, '@')
	if at <= 0 || at == len(a.Address)-1 {
		return "", refuse(s, Syntax, "want local-part@domain")
	}
	local, domain := a.Address[:at], a.Address[at+1:]
	if e := checkDomain(s, domain); e != nil {
		return "", e
	}
	if e := checkLocal(s, local); e != nil {
		return "", e
	}
	// String quotes a local part that needs it ("a b"@x), so the result parses
	// to itself again.
	folded := foldLocal(local)
	if !norm.NFC.IsNormalString(folded) {
		return "", refuse(s, NotNFC, "the local part is not in Unicode normalisation form C once lower-cased")
	}
	out := (&mail.Address{Address: folded + "@" + foldASCII(domain)}).String()
	return strings.TrimSuffix(strings.TrimPrefix(out, "<"), ">"), nil
}

// Equal reports whether a and b are the same address under the rule; an
// address Normalize refuses equals nothing.
func Equal(a, b string) bool {
	na, err := Normalize(a)
	if err != nil {
		return false
	}
	nb, err := Normalize(b)
	return err == nil && na == nb
}

// explain turns net/mail's terse errors into what is wrong, for the cases
// people meet.
func explain(s string, err error) (Reason, string) {
	addr := s
	if i := strings.LastIndexByte(addr, '<'); i >= 0 {
		addr = strings.TrimSuffix(addr[i+1:], ">")
	}
	at := strings.LastIndexByte(addr, '@')
	switch {
	case at < 0:
		return NoDomain, "it has no @domain"
	case strings.HasSuffix(addr, "."):
		return DomainDot, "the domain ends with a dot"
	case at == len(addr)-1:
		return DomainEmpty, "the domain is empty"
	case strings.Contains(addr[at+1:], ".."):
		return EmptyLabel, "the domain has an empty label (two dots in a row)"
	case at == 0:
		return LocalEmpty, "the local part is empty"
	}
	return Syntax, strings.TrimPrefix(err.Error(), "mail: ")
}

func checkDomain(s, d string) *Error {
	if strings.HasPrefix(d, "[") {
		return nil // an address literal; net/mail checked its form
	}
	if strings.HasSuffix(d, ".") {
		return refuse(s, DomainDot, "the domain ends with a dot")
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" {
			return refuse(s, EmptyLabel, "the domain has an empty label")
		}
	}
	if !norm.NFC.IsNormalString(d) {
		return refuse(s, NotNFC, "the domain is not in Unicode normalisation form C")
	}
	return nil
}

func checkLocal(s, l string) *Error {
	if !norm.NFC.IsNormalString(l) {
		return refuse(s, NotNFC, "the local part holds a character that stands for another (not in Unicode normalisation form C, e.g. the Kelvin sign)")
	}
	for _, r := range l {
		if r >= utf8.RuneSelf && unicode.ToLower(r) < utf8.RuneSelf {
			e := refuse(s, ASCIILookalike, fmt.Sprintf("the local part holds %U, whose lower case is the ASCII letter %q", r, unicode.ToLower(r)))
			e.Char = r
			return e
		}
	}
	scripts := map[string]bool{}
	for _, r := range l {
		if !unicode.IsLetter(r) {
			continue
		}
		scripts[scriptOf(r)] = true
	}
	delete(scripts, "")
	if len(scripts) <= 1 || eastAsian(scripts) {
		return nil
	}
	names := make([]string, 0, len(scripts))
	for n := range scripts {
		names = append(names, n)
	}
	sort.Strings(names)
	return refuse(s, MixedScripts, "the local part mixes scripts ("+strings.Join(names, ", ")+")")
}

// scripts a letter is looked up in; a letter in none counts as its own
// "Other" script, which mixes with nothing.
var scriptTables = []struct {
	name string
	t    *unicode.RangeTable
}{
	{"Latin", unicode.Latin}, {"Greek", unicode.Greek}, {"Cyrillic", unicode.Cyrillic},
	{"Armenian", unicode.Armenian}, {"Hebrew", unicode.Hebrew}, {"Arabic", unicode.Arabic},
	{"Devanagari", unicode.Devanagari}, {"Thai", unicode.Thai}, {"Georgian", unicode.Georgian},
	{"Han", unicode.Han}, {"Hiragana", unicode.Hiragana}, {"Katakana", unicode.Katakana},
	{"Hangul", unicode.Hangul}, {"Bopomofo", unicode.Bopomofo},
}

func scriptOf(r rune) string {
	if unicode.Is(unicode.Common, r) || unicode.Is(unicode.Inherited, r) {
		return ""
	}
	for _, s := range scriptTables {
		if unicode.Is(s.t, r) {
			return s.name
		}
	}
	return "Other"
}

// eastAsian: Han with Hiragana and Katakana (Japanese), with Hangul (Korean) or
// with Bopomofo (Chinese), is one writing system.
func eastAsian(scripts map[string]bool) bool {
	for _, set := range [][]string{{"Han", "Hiragana", "Katakana"}, {"Han", "Hangul"}, {"Han", "Bopomofo"}} {
		in := 0
		for _, s := range set {
			if scripts[s] {
				in++
			}
		}
		if in == len(scripts) {
			return true
		}
	}
	return false
}

// foldLocal lower-cases a local part checkLocal accepted: no rune in it maps
// to ASCII from outside.
func foldLocal(s string) string {
	return strings.Map(unicode.ToLower, s)
}

// foldASCII lower-cases ASCII letters and nothing else.
func foldASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
