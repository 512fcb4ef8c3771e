package message

import (
	"bytes"
	"encoding/base64"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// fake1252 stands in for JS TextDecoder: it knows windows-1252 only.
func fake1252(calls *[]string) CharsetDecoder {
	return func(cs string, b []byte) (string, error) {
		*calls = append(*calls, cs)
		if cs != "windows-1252" {
			return "", errors.New("unsupported")
		}
		special := map[byte]rune{0x80: '€', 0x92: '’', 0x93: '“', 0x94: '”', 0x96: '–'}
		var sb strings.Builder
		for _, c := range b {
			if r, ok := special[c]; ok {
				sb.WriteRune(r)
			} else {
				sb.WriteRune(rune(c))
			}
		}
		return sb.String(), nil
	}
}

type check struct {
	t   *testing.T
	m   *Message
	eol string // "\n" or "\r\n", for comparing attachment bytes
}

func (c check) eq(what string, got, want any) {
	c.t.Helper()
	if got != want {
		c.t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// date is the message's date in RFC 3339 UTC, or "" when it has none.
func (c check) date() string {
	if !c.m.HasDate {
		return ""
	}
	return time.UnixMilli(c.m.Date).UTC().Format(time.RFC3339)
}

func (c check) contains(what, s, sub string) {
	c.t.Helper()
	if !strings.Contains(s, sub) {
		c.t.Errorf("%s = %q, want it to contain %q", what, s, sub)
	}
}

func (c check) problem(sub string) {
	c.t.Helper()
	for _, p := range c.m.Problems {
		if strings.Contains(p, sub) {
			return
		}
	}
	c.t.Errorf("Problems = %q, want one containing %q", c.m.Problems, sub)
}

func (c check) noProblems() {
	c.t.Helper()
	if len(c.m.Problems) > 0 {
		c.t.Errorf("Problems = %q, want none", c.m.Problems)
	}
}

func (c check) addrs(what string, got []Address, want ...Address) {
	c.t.Helper()
	if len(got) != len(want) {
		c.t.Errorf("%s = %q, want %q", what, got, want)
		return
	}
	for i := range got {
		if got[i] != want[i] {
			c.t.Errorf("%s[%d] = %q, want %q", what, i, got[i], want[i])
		}
	}
}

func (c check) atts(n int) {
	c.t.Helper()
	if len(c.m.Attachments) != n {
		names := []string{}
		for _, a := range c.m.Attachments {
			names = append(names, a.Filename+" "+a.ContentType)
		}
		c.t.Fatalf("%d attachments %q, want %d", len(c.m.Attachments), names, n)
	}
}

func (c check) att(i int, filename, ctype, cid string, inline bool) Attachment {
	c.t.Helper()
	a := c.m.Attachments[i]
	if a.Filename != filename || a.ContentType != ctype || a.ContentID != cid || a.Inline != inline {
		c.t.Errorf("attachment %d = {%q %q %q inline=%v}, want {%q %q %q inline=%v}",
			i, a.Filename, a.ContentType, a.ContentID, a.Inline, filename, ctype, cid, inline)
	}
	return a
}

func (c check) png(i int) {
	c.t.Helper()
	d := c.m.Attachments[i].Data
	if len(d) != 73 || !bytes.HasPrefix(d, []byte("\x89PNG\r\n\x1a\n")) {
		c.t.Errorf("attachment %d: %d bytes %q..., want a 73-byte PNG", i, len(d), d[:min(len(d), 8)])
	}
}

var cases = []struct {
	name   string
	raw    string
	opt    func(calls *[]string) Options
	lfOnly bool // 8-bit content that must not be rewritten to CRLF
	check  func(c check)
}{
	{name: "outlook multipart/related with cid image", raw: outlookRelated, check: func(c check) {
		m := c.m
		c.addrs("From", m.From, Address{"Mueller, Anna", "anna.mueller@contoso.example"})
		c.addrs("To", m.To, Address{"Bob Smith", "bob@fabrikam.example"}, Address{"Carol", "carol@fabrikam.example"})
		c.addrs("Cc", m.Cc, Address{"Jörg Schäfer", "joerg@contoso.example"})
		c.eq("Subject", m.Subject, "Quartalsbericht – Q3")
		c.eq("MessageID", m.MessageID, "AM0PR07MB1234ABCD@AM0PR07MB1234.eurprd07.prod.outlook.com")
		c.eq("Date", c.date(), "2023-11-14T09:12:44Z")
		c.eq("DateRaw", m.DateRaw, "Tue, 14 Nov 2023 09:12:44 +0000")
		c.eq("Text", m.Text, "Hallo Bob,\n\nanbei der Bericht für Q3.\n\n[cid:image001.png@01DA16F2.3C8B5E70]\n\nViele Grüße\nAnna\n")
		c.contains("HTML", m.HTML, `<img width="96" height="32" id="Grafik_x0020_1" src="cid:image001.png@01DA16F2.3C8B5E70">`)
		c.contains("HTML", m.HTML, `xmlns:o="urn:schemas-microsoft-com:office:office"`)
		c.contains("HTML", m.HTML, "Viele Grüße<br>Anna")
		c.atts(1)
		c.att(0, "image001.png", "image/png", "image001.png@01DA16F2.3C8B5E70", true)
		c.png(0)
		c.noProblems()
	}},
	{name: "apple mail alternative with related html", raw: appleAlternative, check: func(c check) {
		m := c.m
		c.addrs("From", m.From, Address{"Jane Appleseed", "jane@icloud.example"})
		c.addrs("To", m.To, Address{"Tom", "tom@example.org"})
		c.eq("Subject", m.Subject, "Lunch?")
		c.eq("Date", c.date(), "2023-11-03T11:30:05Z")
		c.eq("MessageID", m.MessageID, "8F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0@icloud.example")
		c.eq("Text", m.Text, "Hi Tom,\n\nShall we meet at the café at one?\n\nJane\n")
		c.contains("HTML", m.HTML, `Hi Tom,<div><br></div><div>Shall we meet at the café at one?</div>`)
		c.contains("HTML", m.HTML, `src="cid:5F2A1B3C-ABCD-4321-9876-0123456789AB"`)
		c.atts(1)
		c.att(0, "map.png", "image/png", "5F2A1B3C-ABCD-4321-9876-0123456789AB", true)
		c.png(0)
		c.noProblems()
	}},
	{name: "thunderbird format=flowed", raw: thunderbirdFlowed, check: func(c check) {
		c.eq("Text", c.m.Text, "On 08.11.23 09:00, Alice wrote:\n"+
			"> Are you coming on the trip next week? We leave on Monday morning.\n"+
			"\n"+
			"Yes, count me in. I will bring the maps and the first-aid kit, and some snacks for the road.\n"+
			"\n-- \nBob\n")
		c.eq("HTML", c.m.HTML, "")
		c.atts(0)
		c.noProblems()
	}},
	{name: "latin-1 8bit", raw: latin1Message, lfOnly: true, check: func(c check) {
		m := c.m
		c.addrs("From", m.From, Address{"François Dupré", "francois@example.fr"})
		c.addrs("To", m.To, Address{"", "marie@example.fr"})
		c.eq("Subject", m.Subject, "Réunion de l'équipe")
		c.eq("Text", m.Text, "Bonjour Marie,\n\nLa réunion est déplacée à jeudi. Le café coûte 2 €.\n\nFrançois\n")
		c.noProblems()
	}},
	{name: "windows-1252 through the hook", raw: cp1252Message,
		opt: func(calls *[]string) Options { return Options{Charset: fake1252(calls)} },
		check: func(c check) {
			c.eq("Subject", c.m.Subject, "“Special” offer – 50€ off")
			c.eq("Text", c.m.Text, "Don’t miss it!\n")
			c.noProblems()
		}},
	{name: "windows-1252 without a hook", raw: cp1252Message, check: func(c check) {
		// Latin-1 with the C1 range read as windows-1252, as browsers do
		c.eq("Subject", c.m.Subject, "“Special” offer – 50€ off")
		c.problem(`cannot decode charset "windows-1252"`)
		c.eq("len(Problems)", len(c.m.Problems), 1)
	}},
	{name: "RFC 2231 and RFC 2047 filenames", raw: rfc2231Message, check: func(c check) {
		c.eq("Text", c.m.Text, "Five files attached.\n")
		c.atts(6)
		a := c.att(0, "naïve plan.pdf", "application/pdf", "", false)
		c.eq("pdf", string(a.Data), "%PDF-1.4\n")
		a = c.att(1, "日本語の文書.txt", "text/plain", "", false)
		c.eq("txt", string(a.Data), "hello")
		a = c.att(2, "Übersicht.xls", "application/vnd.ms-excel", "", false)
		c.eq("xls", string(a.Data), "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
		a = c.att(3, "attachment-4.pdf", "application/pdf", "", false)
		c.eq("pdf", string(a.Data), "%PDF-1.7\n")
		c.att(4, "notes.txt", "text/plain", "", false)
		c.att(5, "résumé.txt", "text/plain", "", false)
		c.noProblems()
	}},
	{name: "nested message/rfc822", raw: forwardedMessage, check: func(c check) {
		c.eq("Text", c.m.Text, "See the forwarded message.\n")
		c.atts(2)
		a := c.att(0, "Budget 2024_25 – draft.eml", "message/rfc822", "", true)
		want := strings.ReplaceAll(innerMessage, "\n", c.eol)
		c.eq("eml", string(a.Data), want)
		c.att(1, "earlier.eml", "message/rfc822", "", false)
		c.eq("eml", string(c.m.Attachments[1].Data), want)
		inner, err := Parse(a.Data, Options{})
		if err != nil {
			c.t.Fatal(err)
		}
		c.eq("inner Subject", inner.Subject, "Budget 2024/25 – draft")
		c.eq("inner Text", inner.Text, "Numbers inside.\n")
		c.noProblems()
	}},
	{name: "headers only", raw: headersOnly, check: func(c check) {
		c.addrs("From", c.m.From, Address{"Nobody", "nobody@example.com"})
		c.eq("Subject", c.m.Subject, "(no body)")
		c.eq("Text", c.m.Text, "")
		c.atts(0)
		c.noProblems()
	}},
	{name: "headers only, no final newline", raw: strings.TrimSuffix(headersOnly, "\n"), check: func(c check) {
		c.eq("Date", c.date(), "2023-11-11T00:00:00Z")
		c.eq("Text", c.m.Text, "")
		c.noProblems()
	}},
	{name: "no headers", raw: noHeaders, check: func(c check) {
		c.eq("Text", c.m.Text, noHeaders)
		c.eq("From", len(c.m.From), 0)
		c.eq("Subject", c.m.Subject, "")
		c.noProblems()
	}},
	{name: "no headers, first word From", raw: "From here on, no headers.\nSee?\n", check: func(c check) {
		c.eq("Text", c.m.Text, "From here on, no headers.\nSee?\n")
		c.noProblems()
	}},
	{name: "no MIME headers", raw: "From: a@example.com\nSubject: plain\n\nPlain \xc3\xa9t\xc3\xa9 text.\n", check: func(c check) {
		c.eq("Text", c.m.Text, "Plain été text.\n")
		c.noProblems()
	}},
	{name: "broken multipart: missing final boundary", raw: brokenMultipart, check: func(c check) {
		c.eq("Text", c.m.Text, "The attachment is cut off.\n")
		c.atts(1)
		a := c.att(0, "data.bin", "application/octet-stream", "", false)
		c.eq("data", string(a.Data), "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09")
		c.problem("body: multipart without its final boundary")
	}},
	{name: "broken multipart: no boundary line", raw: noBoundaryLines, check: func(c check) {
		c.eq("Text", c.m.Text, "Plain text after all.\n")
		c.problem("no boundary line found")
	}},
	{name: "broken multipart: no boundary parameter", raw: "Content-Type: multipart/mixed\n\nhello\n", check: func(c check) {
		c.eq("Text", c.m.Text, "hello\n")
		c.problem("multipart without a boundary")
	}},
	{name: "unknown transfer encoding", raw: unknownEncoding, check: func(c check) {
		c.eq("Text", c.m.Text, "begin 644 hello.txt\n%:&5L;&\\*\nend\n")
		c.problem(`body: unknown Content-Transfer-Encoding "x-uuencode", read as 8bit`)
	}},
	{name: "bad base64", raw: badBase64, check: func(c check) {
		c.eq("Text", c.m.Text, "Hello, this text was labelled base64 but is not!\n")
		c.problem("body: bad base64, shown as is")
	}},
	{name: "pgp signed", raw: pgpSigned, check: func(c check) {
		c.eq("Text", c.m.Text, "Signed text.\n")
		c.atts(1)
		a := c.att(0, "OpenPGP_signature.asc", "application/pgp-signature", "", false)
		c.contains("signature", string(a.Data), "-----BEGIN PGP SIGNATURE-----")
		c.noProblems()
	}},
	{name: "invitation: calendar alternative kept as a file", raw: invitation, check: func(c check) {
		c.eq("Text", c.m.Text, "Join us on Friday.\n")
		c.eq("HTML", c.m.HTML, "<html><body><p>Join us on <b>Friday</b>.</p></body></html>"+c.eol)
		c.atts(1)
		a := c.att(0, "attachment-1.ics", "text/calendar", "", false)
		c.eq("ics", string(a.Data), "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
		c.noProblems()
	}},
	{name: "mbox line and digest", raw: digest, check: func(c check) {
		c.addrs("From", c.m.From, Address{"", "list@example.com"})
		c.eq("Text", c.m.Text, "")
		c.atts(2)
		c.att(0, "First.eml", "message/rfc822", "", false)
		c.att(1, "Second.eml", "message/rfc822", "", false)
		c.noProblems()
	}},
	{name: "mixed text, inline image, text", raw: mixedInline, check: func(c check) {
		c.eq("Text", c.m.Text, "Look at this:\nNice, isn't it?\n")
		c.atts(1)
		c.att(0, "photo.png", "image/png", "", true)
		c.png(0)
		c.noProblems()
	}},
}

func TestParse(t *testing.T) {
	for _, tc := range cases {
		for _, eol := range []string{"\n", "\r\n"} {
			if eol == "\r\n" && tc.lfOnly {
				continue
			}
			name := tc.name + " LF"
			raw := tc.raw
			if eol == "\r\n" {
				name, raw = tc.name+" CRLF", crlf(raw)
			}
			t.Run(name, func(t *testing.T) {
				var calls []string
				var opt Options
				if tc.opt != nil {
					opt = tc.opt(&calls)
				}
				m, err := parse([]byte(raw), opt)
				if err != nil {
					t.Fatal(err)
				}
				tc.check(check{t, m, eol})
			})
		}
	}
}

func TestParseEmpty(t *testing.T) {
	for _, raw := range []string{"", "\n", " \r\n\t\r\n"} {
		if m, err := Parse([]byte(raw), Options{}); err != ErrEmpty || m != nil {
			t.Errorf("Parse(%q) = %v, %v; want nil, ErrEmpty", raw, m, err)
		}
	}
}

func TestCharsetHookCalls(t *testing.T) {
	var calls []string
	_, err := Parse([]byte(cp1252Message), Options{Charset: fake1252(&calls)})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || calls[0] != "windows-1252" || calls[1] != "windows-1252" {
		t.Errorf("hook calls = %q, want windows-1252 for the subject and the body", calls)
	}

	// a failing hook, a panicking hook, no hook: Latin-1 for 8-bit text, UTF-8 kept, ASCII never asked
	msg := "Subject: =?shift_jis?B?gqCCog==?= =?koi8-r?Q?caf=C3=A9?= =?gb2312?Q?plain?=\n\nx\n"
	for name, hook := range map[string]CharsetDecoder{
		"failing":    func(string, []byte) (string, error) { return "", errors.New("no") },
		"panicking":  func(string, []byte) (string, error) { panic("JS exception") },
		"none (nil)": nil,
	} {
		m, err := Parse([]byte(msg), Options{Charset: hook})
		if err != nil {
			t.Fatal(err)
		}
		if want := "\u201a\u00a0\u201a\u00a2caféplain"; m.Subject != want {
			t.Errorf("%s hook: Subject = %q, want %q", name, m.Subject, want)
		}
		if len(m.Problems) != 2 {
			t.Errorf("%s hook: Problems = %q, want shift_jis and koi8-r", name, m.Problems)
		}
	}
}

// TestBigAttachment round-trips a 10 MB binary attachment byte for byte.
func TestBigAttachment(t *testing.T) {
	data := make([]byte, 10<<20)
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	_, _ = rng.Read(data)
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	b.WriteString("From: backup@example.com\r\nSubject: backup\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"xyz\"\r\n\r\n--xyz\r\nContent-Type: text/plain\r\n\r\nAttached.\r\n" +
		"--xyz\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"backup.tar\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteString("\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	b.WriteString("\r\n--xyz--\r\n")

	start := time.Now()
	m, err := Parse([]byte(b.String()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("parsed %d bytes in %v", b.Len(), time.Since(start))
	if len(m.Attachments) != 1 || m.Attachments[0].Filename != "backup.tar" {
		t.Fatalf("attachments: %d", len(m.Attachments))
	}
	if !bytes.Equal(m.Attachments[0].Data, data) {
		t.Errorf("attachment differs: %d bytes, want %d", len(m.Attachments[0].Data), len(data))
	}
	if m.Text != "Attached.\n" || len(m.Problems) > 0 {
		t.Errorf("Text %q, Problems %q", m.Text, m.Problems)
	}
}

func TestLimits(t *testing.T) {
	t.Run("MaxParts", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("Content-Type: multipart/mixed; boundary=b\n\n")
		for range 50 {
			b.WriteString("--b\nContent-Type: image/gif\n\nGIF89a\n")
		}
		b.WriteString("--b--\n")
		m, err := Parse([]byte(b.String()), Options{MaxParts: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Attachments) != 9 { // the multipart itself is a part
			t.Errorf("%d attachments, want 9", len(m.Attachments))
		}
		check{t: t, m: m}.problem("part 10: too many parts")
	})
	t.Run("MaxDepth", func(t *testing.T) {
		var b strings.Builder
		for i := range 30 {
			b.WriteString("Content-Type: multipart/mixed; boundary=b" + strings.Repeat("x", i) + "\n\n--b" + strings.Repeat("x", i) + "\n")
		}
		b.WriteString("Content-Type: text/plain\n\ndeep\n")
		m, err := Parse([]byte(b.String()), Options{MaxDepth: 5})
		if err != nil {
			t.Fatal(err)
		}
		if m.Text != "" {
			t.Errorf("Text = %q, want nothing", m.Text)
		}
		check{t: t, m: m}.problem("part 1.1.1.1.1: multipart nested too deeply")
		m, err = Parse([]byte(b.String()), Options{MaxDepth: 31})
		if err != nil || m.Text != "deep\n" {
			t.Errorf("with MaxDepth 31: %v, Text %q", err, m.Text)
		}
	})
	t.Run("MaxBytes", func(t *testing.T) {
		msg := "Content-Type: multipart/mixed; boundary=b\n\n" +
			"--b\nContent-Type: text/plain\n\n" + strings.Repeat("a", 100) + "\n" +
			"--b\nContent-Type: application/zip\n\n" + strings.Repeat("z", 100) + "\n" +
			"--b--\n"
		m, err := Parse([]byte(msg), Options{MaxBytes: 150})
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Text) != 101 || len(m.Attachments) != 0 {
			t.Errorf("Text %d bytes, %d attachments; want 101 and 0", len(m.Text), len(m.Attachments))
		}
		check{t: t, m: m}.problem("part 2: size limit reached")
		m, _ = Parse([]byte(msg), Options{MaxBytes: 50})
		if len(m.Text) != 49 {
			t.Errorf("Text %d bytes, want 49", len(m.Text))
		}
		check{t: t, m: m}.problem("part 1: size limit reached: text cut short")
	})
	t.Run("Problems", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("Content-Type: multipart/mixed; boundary=b\n\n")
		for range 500 {
			b.WriteString("--b\nContent-Transfer-Encoding: x\n\nx\n")
		}
		m, _ := Parse([]byte(b.String()), Options{})
		if len(m.Problems) != maxProblems+1 || !strings.HasPrefix(m.Problems[maxProblems], "too many problems") {
			t.Errorf("%d problems, last %q", len(m.Problems), m.Problems[len(m.Problems)-1])
		}
	})
}

func TestTextAttachments(t *testing.T) {
	msg := `Content-Type: multipart/mixed; boundary=b

--b
Content-Type: text/html; charset=utf-8

<p>body</p>
--b
Content-Type: text/html; charset=utf-8
Content-Disposition: attachment

<p>file</p>
--b
Content-Type: text/plain; name="log.txt"

log
--b
Content-Type: text/csv

a,b
--b--
`
	m, err := Parse([]byte(msg), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := check{t: t, m: m}
	c.eq("HTML", m.HTML, "<p>body</p>")
	c.eq("Text", m.Text, "")
	c.atts(3)
	c.att(0, "attachment-1.html", "text/html", "", false)
	c.att(1, "log.txt", "text/plain", "", false)
	c.att(2, "attachment-3.csv", "text/csv", "", false)
}
