package address

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalize(t *testing.T) {
	ok := []struct{ in, want string }{
		{"kate@patient.example", "kate@patient.example"},
		{"Kate@Patient.EXAMPLE", "kate@patient.example"},
		{`"Dr. Kate" <Kate@patient.example>`, "kate@patient.example"},
		{"  bob+lab@patient.example ", "bob+lab@patient.example"},
		{"Jörg@bücher.example", "jörg@bücher.example"},
		{"JÖRG@patient.example", "jörg@patient.example"},
		{"ΜΑΡΙΑ@patient.example", "μαρια@patient.example"},
		{"田中さん@patient.example", "田中さん@patient.example"},
		{"김민수@patient.example", "김민수@patient.example"},
		{"kate@[127.0.0.1]", "kate@[127.0.0.1]"},
	}
	for _, c := range ok {
		got, err := Normalize(c.in)
		if err != nil || got != c.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, reason string }{
		{"kate@patient.example.", "the domain ends with a dot"},
		{"<kate@patient.example.>", "the domain ends with a dot"},
		{"kate@patient..example", "empty label"},
		{"\u0130nan@patient.example", "U+0130"},                      // İ, whose lower case is i
		{"\u212Aate@patient.example", "Kelvin sign"},                 // KELVIN SIGN, not K
		{"аlice@patient.example", "mixes scripts (Cyrillic, Latin)"}, // Cyrillic а
		{"kate", "no @domain"},
		{"kate@", "the domain is empty"},
		{"kate\xff@patient.example", "UTF-8"},
	}
	for _, c := range bad {
		got, err := Normalize(c.in)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("Normalize(%q) = %q, %v; want an error saying %q", c.in, got, err, c.reason)
		}
	}
}

// The Kelvin sign is never the ASCII letter k, in either direction.
func TestKelvinIsNotK(t *testing.T) {
	if Equal("\u212Aate@patient.example", "kate@patient.example") {
		t.Fatal("an address with the Kelvin sign equals the ASCII one")
	}
	if !Equal("KATE@patient.example", "kate@PATIENT.example") {
		t.Fatal("ASCII case is not folded")
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"kate@patient.example", "\u212Aate@patient.example", "Jörg <JÖRG@Bücher.example>",
		"kate@patient.example.", `"a b"@x.example`, "田中@x.example", "аlice@x.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Normalize(s)
		if err != nil {
			return
		}
		again, err := Normalize(n)
		if err != nil || again != n {
			t.Fatalf("not idempotent: %q → %q → %q, %v", s, n, again, err)
		}
		// Nothing non-ASCII became ASCII: the count of non-ASCII runes in the
		// result is that of the address part of the input.
		if nonASCII(n) > nonASCII(s) {
			t.Fatalf("%q → %q gained non-ASCII", s, n)
		}
		if strings.ContainsAny(n, "\r\n") || !utf8.ValidString(n) {
			t.Fatalf("%q → %q", s, n)
		}
	})
}

func nonASCII(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x80 {
			n++
		}
	}
	return n
}
