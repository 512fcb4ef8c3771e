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
	"github.com/waxseal/waxseal/envelope/unseal"
)

// The container is written and read by exact byte strings: the writer is the only
// producer, and a strict reader is small, fast on a 14 MB file, and easy to fuzz.
// The constants are package unseal's, which reads the container.
const (
	formStart   = unseal.FormStart
	fieldPrefix = unseal.FieldPrefix
	fieldSuffix = unseal.FieldSuffix
	fieldEnd    = unseal.FieldEnd
	lineLen     = 128 // base64 characters per line
	rawLineLen  = lineLen / 4 * 3
	crlf        = "\r\n"
)

// page is the visible part of securedoc.html with {{name}} slots. Every value put in
// a slot is escaped to ASCII by asciiHTML first, so no template engine is needed.
//
//go:embed securedoc.html
var page string

var pageCRLF = strings.ReplaceAll(page, "\n", crlf)

// DateLayout is how every page, mail and securedoc.html writes a time: day, month
// in words, year, 24-hour time and the time zone ("4 December 2026, 15:04 UTC").
// The open page writes the same in the reader's time zone (static/api.js).
const DateLayout = "2 January 2006, 15:04 MST"

func (e *Envelope) renderPage(envKey Key, b *Branding, words *Words) (string, error) {
	h := &e.Header
	u, err := url.Parse(h.KeyServer)
	if err != nil {
		return "", err
	}
	w := words.filled()
	expires := ""
	if !h.Expires.IsZero() {
		expires = "<dt>" + w.say(w.Expires, nil) + "</dt>" + crlf + "<dd>" + w.date(h.Expires) + "</dd>" + crlf
	}
	head, help, style, color := brandingSlots(b, w)
	csp, script := "", ""
	if e.Online {
		csp, script = unseal.OnlineCSPLine, unseal.OnlineScriptLine
	}
	slots := strings.NewReplacer(
		"{from}", asciiHTML(shorten(h.From, 60), 0),
		"{open}", "<strong>"+asciiHTML(w.Open, 0)+"</strong>",
		"{host}", asciiHTML(u.Host, 0),
		"{keyserver}", asciiHTML(h.KeyServer, 0),
		"{id}", h.ID.String(),
	)
	r := strings.NewReplacer(
		"{{csp}}", csp,
		"{{script}}", script,
		"{{brandhead}}", head,
		"{{brandhelp}}", help,
		"{{brandstyle}}", style,
		"{{color}}", color,
		"{{w_lang}}", asciiHTML(w.Lang, 0),
		"{{w_title}}", w.say(w.Title, slots),
		"{{w_heading}}", w.say(w.Heading, nil),
		"{{w_from}}", w.say(w.From, nil),
		"{{w_to}}", w.say(w.To, nil),
		"{{w_sent}}", w.say(w.Sent, nil),
		"{{w_subject}}", w.say(w.Subject, nil),
		"{{w_open}}", w.say(w.Open, nil),
		"{{w_how}}", w.say(w.How, slots),
		"{{w_password}}", w.say(w.Password, slots),
		"{{w_phone}}", w.say(w.Phone, nil),
		"{{w_id}}", w.say(w.ID, slots),
		"{{from}}", asciiHTML(h.From, 72),
		"{{to}}", asciiHTML(h.To, 72),
		"{{sent}}", w.date(h.Created),
		"{{subject}}", asciiHTML(h.Subject, 72),
		"{{expires}}", expires,
		"{{action}}", asciiHTML(h.OpenURL()+"#k="+EncodeKey(envKey), 0),
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
	return e.WriteBrandedHTML(w, envKey, ciphertext, nil)
}

// WriteBrandedHTML is WriteHTML with the organisation's brand on the page (nil:
// none, the same bytes as WriteHTML).
func (e *Envelope) WriteBrandedHTML(w io.Writer, envKey Key, ciphertext io.Reader, b *Branding) error {
	return e.WriteLocalHTML(w, envKey, ciphertext, b, nil)
}

// WriteLocalHTML is WriteBrandedHTML with the page's sentences in words'
// language (nil: English, the same bytes as WriteBrandedHTML). Only the
// visible part changes; what follows the form's start is the format's.
func (e *Envelope) WriteLocalHTML(w io.Writer, envKey Key, ciphertext io.Reader, b *Branding, words *Words) error {
	visible, err := e.renderPage(envKey, b, words)
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
	sb.Grow(int(base64LinesSize(int64(len(b)))))
	var line [lineLen]byte
	for len(b) > 0 {
		k := min(rawLineLen, len(b))
		sb.Write(base64.StdEncoding.AppendEncode(line[:0], b[:k]))
		sb.WriteString(crlf)
		b = b[k:]
	}
	return sb.String()
}

// writeBase64Lines writes r as standard base64, lineLen characters and CRLF a line.
func writeBase64Lines(w io.Writer, r io.Reader) error {
	// 64 lines at a time: large enough that the per-call costs vanish, small
	// enough not to matter to a gateway sealing messages side by side.
	const batch = 64
	in := make([]byte, rawLineLen*batch)
	out := make([]byte, 0, (lineLen+len(crlf))*batch)
	for {
		n, err := io.ReadFull(r, in)
		if n > 0 {
			out = out[:0]
			for chunk := in[:n]; len(chunk) > 0; {
				k := min(rawLineLen, len(chunk))
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
func ParseHTML(data []byte) (*File, error) { return fromFile(unseal.ParseHTML(data)) }

// ParseForm builds a File from the fields the envelope's form posts (header, key and
// payload as base64 text) and the key from the page's URL fragment. The key server's
// open page uses it; envKey may be zero when the fragment has not been read yet.
func ParseForm(header, key, payload []byte, envKey Key) (*File, error) {
	return fromFile(unseal.ParseForm(header, key, payload, envKey))
}

// NewFile builds a File from its parts already decoded from base64: the exact header
// bytes, the key block and the ciphertext.
func NewFile(header, keyBlock, ciphertext []byte, envKey Key) (*File, error) {
	return fromFile(unseal.NewFile(header, keyBlock, ciphertext, envKey))
}

// ParseOnline parses an "open online" blob. The key comes from the link's fragment.
func ParseOnline(data []byte, envKey Key) (*File, error) {
	return fromFile(unseal.ParseOnline(data, envKey))
}

func fromFile(u *unseal.File, err error) (*File, error) {
	if err != nil {
		return nil, err
	}
	h, err := fromUnsealed(&u.Header)
	if err != nil {
		return nil, err
	}
	return &File{Envelope: Envelope{Header: *h, HeaderJSON: u.HeaderJSON, KeyBlock: u.KeyBlock, Online: u.Online}, EnvKey: u.EnvKey, Ciphertext: u.Ciphertext}, nil
}

// Open authenticates and decrypts the file with its k_env and the key server's k_srv,
// returning the original message bytes.
func (f *File) Open(serverKey Key) ([]byte, error) {
	u := unseal.File{HeaderJSON: f.HeaderJSON, KeyBlock: f.KeyBlock, EnvKey: f.EnvKey, Ciphertext: f.Ciphertext}
	u.Header.ID, u.Header.Size = f.Header.ID, f.Header.Size
	return u.Open(serverKey)
}
