package message

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that parsing never panics (parse, unlike Parse, does not
// recover), that the results stay within the limits, and that every string is
// valid UTF-8. The seed corpus is in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, tc := range cases {
		f.Add([]byte(tc.raw))
		f.Add([]byte(crlf(tc.raw)))
	}
	hook := func(cs string, b []byte) (string, error) {
		switch cs {
		case "x-fail":
			return "", errors.New("unsupported")
		case "x-bad":
			return string(b), nil // possibly invalid UTF-8
		case "x-grow":
			return strings.Repeat(string(b), 3), nil
		}
		return latin1(b), nil
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		opt := Options{Charset: hook, MaxParts: 40, MaxDepth: 6, MaxBytes: 1 << 16}
		m, err := parse(raw, opt)
		if err != nil {
			if err != ErrEmpty || m != nil {
				t.Fatalf("parse: %v, %v", m, err)
			}
			return
		}
		total := int64(len(m.Text) + len(m.HTML))
		for _, a := range m.Attachments {
			total += int64(len(a.Data))
			if a.Filename == "" || strings.ContainsAny(a.Filename, "/\\") {
				t.Errorf("attachment file name %q", a.Filename)
			}
			checkUTF8(t, "Filename", a.Filename)
			checkUTF8(t, "ContentType", a.ContentType)
			checkUTF8(t, "ContentID", a.ContentID)
		}
		if total > opt.MaxBytes {
			t.Errorf("%d bytes kept, limit %d", total, opt.MaxBytes)
		}
		if len(m.Attachments) > opt.MaxParts {
			t.Errorf("%d attachments, limit %d parts", len(m.Attachments), opt.MaxParts)
		}
		if len(m.Problems) > maxProblems+1 {
			t.Errorf("%d problems", len(m.Problems))
		}
		for _, list := range [][]Address{m.From, m.To, m.Cc, m.ReplyTo} {
			for _, a := range list {
				checkUTF8(t, "Name", a.Name)
				checkUTF8(t, "Email", a.Email)
			}
		}
		for _, p := range m.Problems {
			checkUTF8(t, "Problem", p)
		}
		checkUTF8(t, "Subject", m.Subject)
		checkUTF8(t, "DateRaw", m.DateRaw)
		checkUTF8(t, "MessageID", m.MessageID)
		checkUTF8(t, "Text", m.Text)
		checkUTF8(t, "HTML", m.HTML)
	})
}

func checkUTF8(t *testing.T, what, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("%s is not valid UTF-8: %q", what, s)
	}
}
