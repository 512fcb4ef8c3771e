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

// FuzzContentScan scans arbitrary messages with every kind of rule: no panic,
// and a dashed SSN put in a plain text body is always found.
func FuzzContentScan(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\nSSN 123-45-6789"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<b>1234567893</b>\r\n--b--\r\n"))
	f.Add([]byte("Content-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nMRN MR1234567=\r\n"))
	f.Add([]byte("\r\n\r\n12.123456789 123-45-67890"))
	rules, err := NewContentRules([]ContentRule{{Name: "SSN", Kind: KindSSN}, {Name: "NPI", Kind: KindNPI},
		{Name: "MRN", Kind: KindRegex, Pattern: `MR[0-9]{7}\b`, Keywords: []string{"MRN"}}}, 1<<20)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		rules.Scan("", msg)
		body := append([]byte("Subject: x\r\nContent-Type: text/plain\r\n\r\n"), msg...)
		body = append(body, " 078-05-1120 "...)
		if m := rules.Scan("", body); m == nil {
			t.Fatalf("the SSN at the end of %q was not found", body)
		}
	})
}
