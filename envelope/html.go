package envelope

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/base64"
	"fmt"
	"io"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/waxseal/waxseal/envelope/internal/stream"
)

// The container is written and read by exact byte strings: the writer is the only
// producer, and a strict reader is small, fast on a 14 MB file, and easy to fuzz.
const (
	formStart = `<form id="waxseal" action="`
	// Fields are hidden inputs, not textareas: browsers parse a long attribute in
	// linear time, but a 14 MB textarea in quadratic time (30 s for 10 MB).
	fieldPrefix = `<input type="hidden" name="`
	fieldSuffix = `" value="`
	fieldEnd    = `">`
	lineLen     = 128 // base64 characters per line: 96 bytes
	crlf        = "\r\n"
)

// page is the visible part of securedoc.html with {{name}} slots. Every value put in
// a slot is escaped to ASCII by asciiHTML first; no template engine is needed, which
// keeps the browser decryptor (which links this package) small.
//
//go:embed securedoc.html
var page string

var pageCRLF = strings.ReplaceAll(page, "\n", crlf)

const dateLayout = "2 January 2006, 15:04 MST"

func (e *Envelope) renderPage(envKey Key) (string, error) {
	h := &e.Header
	u, err := url.Parse(h.KeyServer)
	if err != nil {
		return "", err
	}
	expires := ""
	if !h.Expires.IsZero() {
		expires = "<dt>Expires</dt>" + crlf + "<dd>" + h.Expires.UTC().Format(dateLayout) + "</dd>" + crlf
	}
	r := strings.NewReplacer(
		"{{title}}", asciiHTML(shorten(h.From, 60), 0),
		"{{from}}", asciiHTML(h.From, 72),
		"{{to}}", asciiHTML(h.To, 72),
		"{{sent}}", h.Created.UTC().Format(dateLayout),
		"{{subject}}", asciiHTML(h.Subject, 72),
		"{{expires}}", expires,
		"{{action}}", asciiHTML(h.OpenURL()+"#k="+EncodeKey(envKey), 0),
		"{{host}}", asciiHTML(u.Host, 0),
		"{{keyserver}}", asciiHTML(h.KeyServer, 0),
		"{{id}}", h.ID.String(),
	)
	out := r.Replace(pageCRLF)
	if err := check7bit([]byte(out)); err != nil {
		return "", err
	}
	return out, nil
}

// WriteHTML writes the envelope as a securedoc.html file: a page that shows who sent
// what to whom and, even without JavaScript, posts the ciphertext to the key server
// with k_env in the URL fragment. The file is ASCII with CRLF line ends and lines of
// at most 128 characters, so that mail can carry it as 7bit. ciphertext is the
// message's encrypted payload, which is streamed and never held whole.
func (e *Envelope) WriteHTML(w io.Writer, envKey Key, ciphertext io.Reader) error {
	visible, err := e.renderPage(envKey)
	if err != nil {
		return fmt.Errorf("write envelope %s: %w", e.Header.ID, err)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(visible)
	// The machine-readable part: exact bytes, as docs/FORMAT.md specifies them.
	bw.WriteString(`<div hidden>` + crlf)
	bw.WriteString(fieldPrefix + "version" + fieldSuffix + "1" + fieldEnd + crlf)
	bw.WriteString(fieldPrefix + "header" + fieldSuffix + crlf + base64Lines(e.HeaderJSON) + fieldEnd + crlf)
	bw.WriteString(fieldPrefix + "key" + fieldSuffix + crlf + base64Lines(e.KeyBlock) + fieldEnd + crlf)
	bw.WriteString(fieldPrefix + "payload" + fieldSuffix + crlf)
	if err := writeBase64Lines(bw, ciphertext); err != nil {
		return fmt.Errorf("write envelope %s: %w", e.Header.ID, err)
	}
	bw.WriteString(fieldEnd + crlf + `</div>` + crlf + `</form>` + crlf + `</main>` + crlf + `</body>` + crlf + `</html>` + crlf)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write envelope %s: %w", e.Header.ID, err)
	}
	return nil
}

// HTMLSize is the exact size of the file WriteHTML writes, which lets mail and HTTP
// code announce it before streaming.
func (e *Envelope) HTMLSize(envKey Key) int64 {
	var cw countWriter
	e.WriteHTML(&cw, envKey, bytes.NewReader(nil))
	emptyLines := base64LinesSize(0)
	n := stream.CiphertextSize(e.Header.Size)
	return cw.n - emptyLines + base64LinesSize(n)
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func base64LinesSize(n int64) int64 {
	chars := (n + 2) / 3 * 4
	lines := (chars + lineLen - 1) / lineLen
	return chars + lines*int64(len(crlf))
}

func base64Lines(b []byte) string {
	var sb strings.Builder
	writeBase64Lines(&sb, bytes.NewReader(b))
	return sb.String()
}

// writeBase64Lines writes r as standard base64, lineLen characters and CRLF a line.
func writeBase64Lines(w io.Writer, r io.Reader) error {
	const rawLine = lineLen / 4 * 3
	in := make([]byte, rawLine*512)
	out := make([]byte, 0, (lineLen+2)*512)
	for {
		n, err := io.ReadFull(r, in)
		if n > 0 {
			out = out[:0]
			for chunk := in[:n]; len(chunk) > 0; {
				k := min(rawLine, len(chunk))
				out = base64.StdEncoding.AppendEncode(out, chunk[:k])
				out = append(out, crlf...)
				chunk = chunk[k:]
			}
			if _, werr := w.Write(out); werr != nil {
				return werr
			}
		}
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			return nil
		default:
			return fmt.Errorf("read payload: %w", err)
		}
	}
}

// check7bit guards the promise that the file can travel as 7bit mail.
func check7bit(b []byte) error {
	line := 0
	for i, c := range b {
		switch {
		case c == '\n':
			line = 0
			continue
		case c >= 0x80 || c == 0:
			return fmt.Errorf("container is not ASCII at byte %d", i)
		}
		line++
		if line > 998 {
			return fmt.Errorf("container line longer than 998 characters at byte %d", i)
		}
	}
	return nil
}

// asciiHTML escapes s for HTML text and attribute values using ASCII only: markup
// characters and everything outside printable ASCII become character references,
// control characters and invalid UTF-8 become U+FFFD. With width > 0 it breaks
// lines (at a space where it can) so that no line grows past about width.
func asciiHTML(s string, width int) string {
	var sb strings.Builder
	col := 0
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		if width > 0 && (col >= width && r == ' ' || col >= width+32) {
			sb.WriteString(crlf)
			col = 0
			if r == ' ' {
				continue
			}
		}
		var piece string
		switch {
		case r == '<':
			piece = "&lt;"
		case r == '>':
			piece = "&gt;"
		case r == '&':
			piece = "&amp;"
		case r == '"':
			piece = "&#34;"
		case r == '\'':
			piece = "&#39;"
		case r < 0x20 || r == 0x7f || (0x80 <= r && r < 0xa0) || r == utf8.RuneError:
			piece = "&#xFFFD;"
		case r < 0x80:
			piece = string(r)
		default:
			piece = fmt.Sprintf("&#x%X;", r)
		}
		sb.WriteString(piece)
		col += len(piece)
	}
	return sb.String()
}

func shorten(s string, runes int) string {
	if utf8.RuneCountInString(s) <= runes {
		return s
	}
	return string([]rune(s)[:runes]) + "..."
}

// File is a parsed securedoc.html: the envelope, the k_env from its form's action,
// and the ciphertext. Everything in it is unauthenticated until Open succeeds.
type File struct {
	Envelope
	EnvKey     Key
	Ciphertext []byte
}

// ParseHTML parses a securedoc.html file. It checks the structure and the header's
// form but no cryptography: use Open for that.
func ParseHTML(data []byte) (*File, error) {
	formAt := bytes.Index(data, []byte(formStart))
	if formAt < 0 {
		return nil, ErrNotEnvelope
	}
	rest := data[formAt+len(formStart):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return nil, fmt.Errorf("%w: form action is not terminated", ErrMalformed)
	}
	// The writer never puts a character reference in the action (its characters are
	// all URL-safe), so the reader need not decode any.
	action := string(rest[:end])
	rest = rest[end:]

	fields := map[string][]byte{}
	for _, name := range []string{"version", "header", "key", "payload"} {
		v, after, err := field(rest, name)
		if err != nil {
			return nil, err
		}
		fields[name], rest = v, after
	}
	if v := string(bytes.TrimSpace(fields["version"])); v != "1" {
		return nil, fmt.Errorf("%w %.20q", ErrUnsupportedVersion, v)
	}
	return parseFields(action, fields["header"], fields["key"], fields["payload"])
}

// field finds the next hidden input called name in data and returns its value and
// the data after it.
func field(data []byte, name string) (value, rest []byte, err error) {
	start := []byte(fieldPrefix + name + fieldSuffix)
	i := bytes.Index(data, start)
	if i < 0 {
		return nil, nil, fmt.Errorf("%w: no %s field", ErrNotEnvelope, name)
	}
	data = data[i+len(start):]
	j := bytes.IndexByte(data, '"')
	if j < 0 || !bytes.HasPrefix(data[j:], []byte(fieldEnd)) {
		return nil, nil, fmt.Errorf("%w: %s field is not terminated", ErrMalformed, name)
	}
	return data[:j], data[j+len(fieldEnd):], nil
}

// ParseForm builds a File from the fields the envelope's form posts (header, key and
// payload as base64 text) and the key from the page's URL fragment. The key server's
// open page and the browser decryptor use it; envKey may be zero when the fragment
// has not been read yet.
func ParseForm(header, key, payload []byte, envKey Key) (*File, error) {
	f, err := decodeFields(header, key, payload)
	if err != nil {
		return nil, err
	}
	f.EnvKey = envKey
	return f, nil
}

// NewFile builds a File from its parts already decoded from base64: the exact header
// bytes, the key block and the ciphertext. The browser decodes base64 natively and
// hands the decryptor bytes.
func NewFile(header, keyBlock, ciphertext []byte, envKey Key) (*File, error) {
	h, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	if len(keyBlock) != KeyBlockSize {
		return nil, fmt.Errorf("%w: key block is %d bytes, want %d", ErrMalformed, len(keyBlock), KeyBlockSize)
	}
	return &File{Envelope: Envelope{Header: *h, HeaderJSON: header, KeyBlock: keyBlock}, EnvKey: envKey, Ciphertext: ciphertext}, nil
}

func parseFields(action string, header, key, payload []byte) (*File, error) {
	f, err := decodeFields(header, key, payload)
	if err != nil {
		return nil, err
	}
	base, frag, _ := strings.Cut(action, "#")
	if base != f.Header.OpenURL() {
		return nil, fmt.Errorf("%w: form posts to %.120q, but the header says %q", ErrMalformed, base, f.Header.OpenURL())
	}
	k, ok := strings.CutPrefix(frag, "k=")
	if !ok {
		return nil, fmt.Errorf("%w: form action has no key fragment", ErrMalformed)
	}
	if f.EnvKey, err = ParseKey(k); err != nil {
		return nil, fmt.Errorf("%w: form action: %v", ErrMalformed, err)
	}
	return f, nil
}

func decodeFields(header, key, payload []byte) (*File, error) {
	hb, err := decodeBase64("header", header)
	if err != nil {
		return nil, err
	}
	h, err := parseHeader(hb)
	if err != nil {
		return nil, err
	}
	kb, err := decodeBase64("key", key)
	if err != nil {
		return nil, err
	}
	if len(kb) != KeyBlockSize {
		return nil, fmt.Errorf("%w: key block is %d bytes, want %d", ErrMalformed, len(kb), KeyBlockSize)
	}
	ct, err := decodeBase64("payload", payload)
	if err != nil {
		return nil, err
	}
	return &File{Envelope: Envelope{Header: *h, HeaderJSON: hb, KeyBlock: kb}, Ciphertext: ct}, nil
}

// strictBase64 rejects non-zero padding bits, so each value has one encoding.
var strictBase64 = base64.StdEncoding.Strict()

// decodeBase64 decodes standard base64 broken into lines (CR and LF are skipped, as
// form submission turns line ends in values into CRLF).
func decodeBase64(name string, b []byte) ([]byte, error) {
	out := make([]byte, strictBase64.DecodedLen(len(b)))
	n, err := strictBase64.Decode(out, b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadBase64, name, err)
	}
	return out[:n], nil
}

// Open authenticates and decrypts the file with its k_env and the key server's k_srv,
// returning the original message bytes.
func (f *File) Open(serverKey Key) ([]byte, error) {
	p, err := f.Unwrap(Keys{Env: f.EnvKey, Server: serverKey})
	if err != nil {
		return nil, fmt.Errorf("open envelope %s: %w", f.Header.ID, err)
	}
	msg, err := p.Decrypt(f.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("open envelope %s: %w", f.Header.ID, err)
	}
	return msg, nil
}
