package policy

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzSubject matches arbitrary subjects: no panic; the subject a triggered
// message shows does not trigger again; and a subject that triggers keeps
// triggering when a reply marker, a tag, zero-width characters or case changes
// are added.
func FuzzSubject(f *testing.F) {
	for _, s := range []string{"PHI: results", "send secure", "Re: ePHI:x", "[EXTERNAL] Secure: x", "send\u200bsecure",
		"=?utf-8?q?PHI=3A_x?=", "=?x-bogus?q?PHI=3A_t?=", "PHI :x", "Re: Physics:", "send YourMessage secure", "\uff30HI: x"} {
		f.Add(s, uint8(0), uint8(0))
	}
	tr, err := NewTriggers(DefaultPhrases, DefaultPrefixes)
	if err != nil {
		f.Fatal(err)
	}
	lead := []string{"Re: ", "RE[2]:", "Fwd: ", "AW:", "[EXTERNAL] ", "*EXTERNAL* ", "[SPAM]", "回复："}
	invisible := []string{"\u200b", "\ufeff", "\u00ad", "\u2060", "\u200e"}
	f.Fuzz(func(t *testing.T, raw string, a, b uint8) {
		m := tr.MatchRaw(raw)
		if !m.Triggered {
			return
		}
		if again := tr.MatchRaw(m.Subject); again.Triggered {
			t.Fatalf("%q shows %q, which triggers again (%s)", raw, m.Subject, again.Rule)
		}
		if strings.Contains(raw, "=?") {
			return // changing encoded words changes what they decode to
		}
		variants := map[string]string{
			"marker":  lead[int(a)%len(lead)] + raw,
			"markers": lead[int(a)%len(lead)] + lead[int(b)%len(lead)] + raw,
			"upper":   asciiCase(raw, unicode.ToUpper),
			"lower":   asciiCase(raw, unicode.ToLower),
		}
		if utf8.ValidString(raw) {
			// a zero-width character after every b-th rune
			var sb strings.Builder
			n := int(b)%4 + 1
			i := 0
			for _, r := range raw {
				sb.WriteRune(r)
				if i++; i%n == 0 {
					sb.WriteString(invisible[int(a)%len(invisible)])
				}
			}
			variants["invisible"] = sb.String()
		}
		for name, v := range variants {
			if !tr.MatchRaw(v).Triggered {
				t.Errorf("%q triggers (%s), but with %s %q does not", raw, m.Rule, name, v)
			}
		}
	})
}

func asciiCase(s string, f func(rune) rune) string {
	return strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf {
			return f(r)
		}
		return r
	}, s)
}
