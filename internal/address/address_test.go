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
	bad := []struct {
		in, words string
		reason    Reason
	}{
		{"kate@patient.example.", "the domain ends with a dot", DomainDot},
		{"<kate@patient.example.>", "the domain ends with a dot", DomainDot},
		{"kate@patient..example", "empty label", EmptyLabel},
		{"\u0130nan@patient.example", "U+0130", ASCIILookalike},                    // İ, whose lower case is i
		{"\u212Aate@patient.example", "Kelvin sign", NotNFC},                       // KELVIN SIGN, not K
		{"аlice@patient.example", "mixes scripts (Cyrillic, Latin)", MixedScripts}, // Cyrillic а
		{"kate", "no @domain", NoDomain},
		{"kate@", "the domain is empty", DomainEmpty},
		{"@patient.example", "the local part is empty", LocalEmpty},
		{"kate@@patient.example", "", Syntax},
		{"kate\xff@patient.example", "UTF-8", NotUTF8},
	}
	for _, c := range bad {
		got, err := Normalize(c.in)
		var e *Error
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.words) || !errors.As(err, &e) || e.Reason != c.reason {
			t.Errorf("Normalize(%q) = %q, %v; want an error of reason %s saying %q", c.in, got, err, c.reason, c.words)
			continue
		}
		if c.reason == ASCIILookalike && e.Char != '\u0130' {
			t.Errorf("Normalize(%q): Char %U, want U+0130", c.in, e.Char)
		}
		if c.reason != NotUTF8 && !strings.Contains(c.in, e.Input) {
			t.Errorf("Normalize(%q): Input %q is not the address given", c.in, e.Input)
		}
	}
	// The quoted input is bounded, and stays valid UTF-8 where it is cut.
	long := strings.Repeat("é", 60) + "@patient..example"
	if _, err := Normalize(long); err == nil {
		t.Fatal("a domain with an empty label was accepted")
	} else if e := err.(*Error); len(e.Input) > 80 || !utf8.ValidString(e.Input) {
		t.Errorf("Input of %d bytes, valid UTF-8 %v; want at most 80, valid", len(e.Input), utf8.ValidString(e.Input))
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
			// Every refusal names its rule (the key server's catalogs say it)
			// and quotes at most 80 bytes of valid UTF-8 of the input.
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) || e.Reason == "" {
				t.Fatalf("%q: %v is not an *Error with a reason", s, err)
			}
			if len(e.Input) > 80 || !utf8.ValidString(e.Input) || !strings.Contains(s, e.Input) {
				t.Fatalf("%q: Input %q", s, e.Input)
			}
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
