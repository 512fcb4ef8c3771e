package compose

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"unicode/utf8"
)

// Attachment is one file the recipient attached.
type Attachment struct {
	Name        string
	ContentType string // "" for application/octet-stream
	Data        []byte
}

// Draft is what the page gives: the recipient's text, the original quoted below
// it, and attachments. Addresses are not part of it: the gateway sets From, To
// and Cc from the key server's record (FORMAT.md "Reply v1").
type Draft struct {
	Subject     string
	Text        string
	Quote       string // the original's text; each line is prefixed "> "
	Attribution string // the line above the quote, e.g. "On 3 Dec 2026, Dr Jones wrote:"
	Attachments []Attachment
}

// ErrBadDraft: a field cannot be put into a message (for example invalid UTF-8).
var ErrBadDraft = errors.New("reply draft is not valid")

// Build returns the RFC 5322 message for d: MIME-Version, Subject and a
// multipart/mixed body of a text/plain part and one part per attachment, all
// base64 so that no line is too long and no byte needs escaping. random
// supplies the boundary. Lines end in CRLF.
func Build(d *Draft, random io.Reader) ([]byte, error) {
	for _, s := range []string{d.Subject, d.Text, d.Quote, d.Attribution} {
		if !utf8.ValidString(s) {
			return nil, ErrBadDraft
		}
	}
	var rb [18]byte
	if _, err := io.ReadFull(random, rb[:]); err != nil {
		return nil, errors.New("reply: no randomness: " + err.Error())
	}
	// "=_" cannot start a base64 line, so the boundary never occurs in a part.
	boundary := "=_waxseal_" + base64.RawURLEncoding.EncodeToString(rb[:])

	// A bytes.Buffer, whose bytes are returned as they are: a strings.Builder
	// would cost a second copy of up to 10 MiB at the end.
	var b bytes.Buffer
	size := len(d.Text) + len(d.Quote) + 1024
	for _, a := range d.Attachments {
		size += len(a.Data)*4/3 + len(a.Data)/38 + 512
	}
	if size > MaxMessage+MaxMessage/8 {
		return nil, ErrTooLarge
	}
	b.Grow(size)
	b.WriteString("MIME-Version: 1.0\r\n")
	b.WriteString("Subject: " + encodeWord(oneLine(d.Subject)) + "\r\n")
	b.WriteString("Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n\r\n")

	b.WriteString("--" + boundary + "\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	writeBase64(&b, []byte(bodyText(d)))
	for _, a := range d.Attachments {
		ct := a.ContentType
		if ct == "" || !isToken(ct) {
			ct = "application/octet-stream"
		}
		b.WriteString("--" + boundary + "\r\n")
		b.WriteString("Content-Type: " + ct + "\r\n")
		b.WriteString("Content-Disposition: attachment; filename*=utf-8''" + percentEncode(oneLine(a.Name)) + "\r\n")
		b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
		writeBase64(&b, a.Data)
	}
	b.WriteString("--" + boundary + "--\r\n")
	if b.Len() > MaxMessage {
		return nil, ErrTooLarge
	}
	return b.Bytes(), nil
}

func bodyText(d *Draft) string {
	text := strings.ReplaceAll(d.Text, "\r\n", "\n")
	if d.Quote == "" {
		return strings.ReplaceAll(text, "\n", "\r\n")
	}
	var b strings.Builder
	b.WriteString(strings.TrimRight(text, "\n"))
	b.WriteString("\n\n")
	if d.Attribution != "" {
		b.WriteString(oneLine(d.Attribution) + "\n")
	}
	for _, line := range strings.Split(strings.TrimRight(strings.ReplaceAll(d.Quote, "\r\n", "\n"), "\n"), "\n") {
		if line == "" {
			b.WriteString(">\n")
		} else {
			b.WriteString("> " + line + "\n")
		}
	}
	return strings.ReplaceAll(b.String(), "\n", "\r\n")
}

// oneLine keeps a header value on one line: control characters become spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// encodeWord returns s as is when it is printable ASCII, else as RFC 2047
// encoded-words (base64, UTF-8), split so no word is over 75 characters and no
// character is cut.
func encodeWord(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x7f {
			ascii = false
			break
		}
	}
	if ascii && !strings.Contains(s, "=?") && len(s) < 900 {
		return s
	}
	var words []string
	for len(s) > 0 {
		n := 0
		for n < len(s) {
			_, size := utf8.DecodeRuneInString(s[n:])
			if n+size > 39 { // 52 base64 characters: the first line stays under 78
				break
			}
			n += size
		}
		words = append(words, "=?utf-8?b?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
		s = s[n:]
	}
	return strings.Join(words, "\r\n ")
}

func writeBase64(b *bytes.Buffer, data []byte) {
	const lineBytes = 57 // 76 characters a line
	var line [76]byte
	for len(data) > 0 {
		n := min(lineBytes, len(data))
		m := base64.StdEncoding.EncodedLen(n)
		base64.StdEncoding.Encode(line[:m], data[:n])
		b.Write(line[:m])
		b.WriteString("\r\n")
		data = data[n:]
	}
}

// percentEncode is RFC 8187's value encoding: attr-char as is, the rest %XX.
func percentEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// isToken accepts a bare type/subtype such as "application/pdf".
func isToken(ct string) bool {
	slash := false
	for i := 0; i < len(ct); i++ {
		c := ct[i]
		switch {
		case c == '/' && !slash && i > 0 && i < len(ct)-1:
			slash = true
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_", c) >= 0:
		default:
			return false
		}
	}
	return slash && len(ct) <= 100
}
