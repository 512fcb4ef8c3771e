//go:build !(js && wasm)

package message

import (
	"bytes"
	"io"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"unicode/utf8"
)

// The fuzz targets here check the hand-written readers against the standard
// library's (net/mail, net/textproto, mime), as FuzzParseHeader does for the
// envelope header's JSON: whatever the standard library reads, this package must
// read to the same values. It is lenient where they refuse, so only what they
// accept is compared. They run natively only: the decryptor must not link those
// packages (wasm/budget_test.go), and their tests need not run in Node.

// FuzzHeaderStdlib compares splitHeader with net/mail.ReadMessage.
func FuzzHeaderStdlib(f *testing.F) {
	for _, s := range []string{
		"From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n",
		"A: 1\n folded\n\tagain\nB : 2\n\nbody",
		"Subject: caf\xc3\xa9\nX-Empty:\n\n",
		"To: a@example.com\nTo: b@example.com\n\n",
		" stray\nFrom: a@example.com\n\nbody",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		std, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			return
		}
		if !namesOnFirstLine(raw) {
			return
		}
		for k := range std.Header {
			if !isToken(strings.TrimRight(k, " \t")) {
				return // a field name net/textproto lets through ("\r"); not a field here
			}
		}
		stdBody, err := io.ReadAll(std.Body)
		if err != nil {
			t.Fatal(err)
		}
		h, body, unterminated, skipped := splitHeader(raw)
		if unterminated || skipped {
			t.Fatalf("net/mail reads a well-formed header, splitHeader says unterminated %v, skipped %v: %q", unterminated, skipped, raw)
		}
		if !bytes.Equal(body, stdBody) {
			t.Fatalf("body %q, net/mail %q, from %q", body, stdBody, raw)
		}
		n := 0
		for k, vs := range std.Header {
			n += len(vs)
			if !utf8.ValidString(vs[0]) {
				continue // 8-bit header text that is not UTF-8 is read as Latin-1 here
			}
			// net/textproto turns each line break and the blanks around it into
			// one space; unfold keeps the blanks: compare with blanks collapsed.
			// net/textproto keeps blanks before the colon in the name.
			if got, want := collapse(h.get(lower(strings.TrimRight(k, " \t")))), collapse(vs[0]); got != want {
				t.Fatalf("%s: %q, net/mail %q, from %q", k, got, want, raw)
			}
		}
		if len(h) != n {
			t.Fatalf("%d fields, net/mail %d, from %q", len(h), n, raw)
		}
	})
}

// namesOnFirstLine reports whether each field of the header starts with its
// name and colon on one line. net/textproto joins the continuation lines first,
// so it also reads "Name\n : value", and it skips a line with an empty name
// (":x"); such lines end the header here, as any line that is not a field does.
func namesOnFirstLine(raw []byte) bool {
	for _, line := range bytes.Split(raw, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return true
		}
		if line[0] != ' ' && line[0] != '\t' && fieldColon(line) < 0 {
			return false
		}
	}
	return true
}

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

func noBlanks(s string) string { return strings.Join(strings.Fields(s), "") }

// unquoteLocal removes the quotes and backslashes of a quoted local part.
func unquoteLocal(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 || !strings.HasPrefix(email, `"`) {
		return email
	}
	local := email[:at]
	if len(local) < 2 || !strings.HasSuffix(local, `"`) {
		return email
	}
	var sb strings.Builder
	for i := 1; i < len(local)-1; i++ {
		if local[i] == '\\' && i+1 < len(local)-1 {
			i++
		}
		sb.WriteByte(local[i])
	}
	return sb.String() + email[at:]
}

// FuzzAddressStdlib compares parseAddressList with net/mail.ParseAddressList.
func FuzzAddressStdlib(f *testing.F) {
	for _, s := range []string{
		"alice@example.com",
		"Alice Liddell <alice@example.com>, bob@example.com",
		`"Liddell, Alice" <alice@example.com>`,
		"alice@example.com (Alice)",
		"=?utf-8?B?w4lsb2RpZQ==?= <elodie@example.fr>",
		"Team: a@example.com, B <b@example.com>;, c@example.com",
		`"john doe"@example.com`,
		"<@relay.example:user@example.com>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		std, err := mail.ParseAddressList(s)
		if err != nil || !utf8.ValidString(s) {
			return
		}
		got := (&parser{}).parseAddressList(s)
		if len(got) != len(std) {
			t.Fatalf("%q: %d mailboxes %q, net/mail %d %q", s, len(got), got, len(std), std)
		}
		for i, a := range std {
			// net/mail unquotes a quoted local part; it is kept quoted here, as the
			// address is written.
			if unquoteLocal(got[i].Email) != a.Address {
				t.Fatalf("%q: [%d] email %q, net/mail %q", s, i, got[i].Email, a.Address)
			}
			// net/mail leaves encoded words in other charsets as they are, and
			// puts a space between adjacent words ("a"b), where this package
			// keeps the spacing written: compare without blanks.
			// An empty first comment gives net/mail no name; a later comment
			// names the mailbox here.
			emptyComment := a.Name == "" && strings.Contains(s, "(")
			if noBlanks(got[i].Name) != noBlanks(a.Name) && !strings.Contains(a.Name, "=?") && !emptyComment {
				t.Fatalf("%q: [%d] name %q, net/mail %q", s, i, got[i].Name, a.Name)
			}
		}
	})
}

// FuzzMediaTypeStdlib compares parseValue (Content-Type and Content-Disposition)
// with mime.ParseMediaType.
func FuzzMediaTypeStdlib(f *testing.F) {
	for _, s := range []string{
		"text/plain; charset=utf-8",
		`multipart/mixed; boundary="----=_Part_1"`,
		`attachment; filename*=utf-8''caf%C3%A9.pdf`,
		`attachment; filename*0="a"; filename*1="b.txt"`,
		`inline; filename="a\"b.txt"`,
		"TEXT/HTML; Charset=ISO-8859-1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mt, params, err := mime.ParseMediaType(s)
		if err != nil || !utf8.ValidString(s) {
			return
		}
		got, gotParams := (&parser{}).parseValue(s)
		if got != mt {
			t.Fatalf("%q: %q, mime %q", s, got, mt)
		}
		for k, v := range params {
			if !utf8.ValidString(v) {
				continue // RFC 2231 bytes that are not UTF-8 become U+FFFD here
			}
			if gotParams[k] != v {
				t.Fatalf("%q: %s=%q, mime %q", s, k, gotParams[k], v)
			}
		}
	})
}

// FuzzEncodedWordsStdlib compares decodeWords with mime.WordDecoder on the
// charsets both decode themselves.
func FuzzEncodedWordsStdlib(f *testing.F) {
	for _, s := range []string{
		"=?utf-8?q?caf=C3=A9?=",
		"=?UTF-8?B?w4lsb2RpZQ==?= =?utf-8?q?_Karenina?=",
		"plain =?iso-8859-1?q?caf=E9?= text",
		"=?us-ascii?Q?a_b?=",
	} {
		f.Add(s)
	}
	dec := mime.WordDecoder{}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := dec.DecodeHeader(s)
		// mime leaves words in other charsets as they are; they go to the
		// page's decoder here.
		if err != nil || !utf8.ValidString(s) || !utf8.ValidString(want) || strings.Contains(want, "=?") {
			return
		}
		if got := (&parser{}).decodeWords(s); got != want {
			t.Fatalf("%q: %q, mime %q", s, got, want)
		}
	})
}
