// Package message turns the RFC 5322 message that the browser has just decrypted
// into what the page shows: addresses, subject, date, the best text and HTML bodies,
// and the attachments.
//
// It is compiled into the browser's WebAssembly module, so it uses no package
// that would pull fmt, reflect or os into the binary: headers, MIME parameters
// (RFC 2045, RFC 2231), encoded words (RFC 2047), addresses, dates, the transfer
// encodings and the multipart framing are parsed here, leniently, by small
// hand-written code. Charsets other than UTF-8, US-ASCII and ISO-8859-1 go
// through the caller's CharsetDecoder (in the browser, JS TextDecoder).
//
// Parse never panics and bounds its work: multipart nesting (MaxDepth), the
// number of parts (MaxParts) and the decoded bytes kept (MaxBytes). What it could
// not read is reported in Message.Problems and shown as well as it can be.
package message

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// CharsetDecoder decodes b from the named charset (lowercase, as labelled in the
// message, e.g. "windows-1252", "shift_jis") to UTF-8. In the browser it wraps
// JS TextDecoder. An error (or a panic) makes Parse fall back to UTF-8 when b is
// valid UTF-8, else to Latin-1.
type CharsetDecoder func(charset string, b []byte) (string, error)

// Options bound and tune Parse. The zero value is ready to use.
type Options struct {
	Charset  CharsetDecoder // for charsets other than UTF-8, US-ASCII, ISO-8859-1; may be nil
	MaxParts int            // MIME parts visited, default DefaultMaxParts
	MaxDepth int            // multipart nesting, default DefaultMaxDepth
	MaxBytes int64          // decoded bytes kept (bodies and attachments), default DefaultMaxBytes
}

// Defaults for the zero Options fields.
const (
	DefaultMaxParts = 1000
	DefaultMaxDepth = 20
	DefaultMaxBytes = 64 << 20
)

// maxProblems caps Message.Problems; one more entry says that the rest were dropped.
const maxProblems = 100

// Address is one mailbox of an address header. A mailbox that could not be read
// is kept whole, decoded, as Name with an empty Email.
type Address struct {
	Name  string
	Email string
}

// Attachment is a part shown as a file: real attachments, inline images
// (Inline true, ContentID without the angle brackets, for cid: URLs in HTML),
// other inline parts that are not the text or HTML body, and attached messages
// (message/rfc822, as .eml).
type Attachment struct {
	Filename    string // never empty: from the part, else "attachment-N.ext"; no directory part
	ContentType string // lowercase media type without parameters, e.g. "image/png"
	ContentID   string
	Inline      bool
	Data        []byte // decoded content
}

// Message is what the page shows. All strings are valid UTF-8.
type Message struct {
	From    []Address
	To      []Address
	Cc      []Address
	ReplyTo []Address
	Subject string // RFC 2047 decoded
	// Date is in milliseconds since 1970 UTC, valid when HasDate (absent or
	// unreadable dates leave it false).
	Date    int64
	HasDate bool
	DateRaw string
	// MessageID is the Message-ID without the angle brackets.
	MessageID string
	// Text is the text/plain body in UTF-8 with LF line ends (format=flowed
	// joined); several inline text parts of a multipart/mixed are joined.
	Text string
	// HTML is the text/html body decoded to UTF-8 and otherwise untouched: it
	// must be sanitized or sandboxed before it is shown. Several inline HTML
	// parts of a multipart/mixed are joined with a line break, and the inline
	// text parts beside them (an antivirus banner, a disclaimer, a mailing-list
	// footer, an inline text file) are put in their places as escaped <pre>
	// blocks, so that showing HTML shows every inline part, in order. It is
	// empty when the message has no HTML part to show.
	HTML string
	// CharsetGuessed is true when 8-bit text that is not UTF-8 came without a
	// charset label (a body part without one, or with a wrong US-ASCII one, or
	// the message's header outside encoded words) and was read as Latin-1, the
	// only guess that never fails: text in another legacy encoding, such as
	// Shift_JIS, GB2312 or EUC-KR, then shows as the wrong characters, and the
	// page must say so.
	CharsetGuessed bool
	Attachments    []Attachment
	// Problems are non-fatal defects, e.g. "part 1.2: bad base64, shown as is",
	// in English (tests, logs); Issues are the same for the reader, said by
	// the page from its catalog.
	Problems []string
	Issues   []Problem
}

// Problem is one defect as the page says it: its catalog id (js.problem_ID),
// the part it is about ("" the message, "body" its own body, else "1.2"),
// and the values its sentence names (a charset, a date as written).
type Problem struct {
	ID   string
	Part string
	Args map[string]string
}

// ErrEmpty is returned by Parse when there is nothing to show: no header and no body.
var ErrEmpty = errors.New("message: empty message")

// errInternal is returned if parsing panicked, which the fuzz tests say it does not.
var errInternal = errors.New("message: internal error while parsing")

// Parse reads raw as an RFC 5322 message. It returns an error only when there is
// nothing to show at all; everything else is reported in Message.Problems.
// Attachment data that needed no decoding shares memory with raw.
func Parse(raw []byte, opt Options) (m *Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, errInternal
		}
	}()
	return parse(raw, opt)
}

// parser holds the state of one Parse call.
type parser struct {
	opt         Options
	budget      int64 // decoded bytes that may still be kept
	parts       int   // parts visited
	problems    []string
	issues      []Problem
	badCharsets map[string]bool
	// charsetGuessed is Message.CharsetGuessed.
	charsetGuessed bool
	tooManyParts   bool
	overBudget     bool
}

func parse(raw []byte, opt Options) (*Message, error) {
	if opt.MaxParts <= 0 {
		opt.MaxParts = DefaultMaxParts
	}
	if opt.MaxDepth <= 0 {
		opt.MaxDepth = DefaultMaxDepth
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = DefaultMaxBytes
	}
	p := &parser{opt: opt, budget: opt.MaxBytes}

	raw = skipMboxFrom(raw)
	h, body, unterminated, skipped := splitHeader(raw)
	if len(h) == 0 && len(bytes.TrimSpace(body)) == 0 {
		return nil, ErrEmpty
	}
	if unterminated {
		p.problem("", "no_blank_line", "header not followed by an empty line; the rest is read as the body")
	}
	if skipped {
		p.problem("", "indented_header", "header starts with an indented line, which was skipped")
	}

	m := &Message{}
	m.From = p.addressHeader(h, "from")
	m.To = p.addressHeader(h, "to")
	m.Cc = p.addressHeader(h, "cc")
	m.ReplyTo = p.addressHeader(h, "reply-to")
	m.Subject = p.decodeWords(h.get("subject"))
	m.MessageID = stripAngles(h.get("message-id"))
	if d := h.get("date"); d != "" {
		m.DateRaw = d
		if ms, ok := parseDate(d); ok {
			m.Date, m.HasDate = ms, true
		} else {
			p.problem("", "date", "unreadable Date "+quote(d), "date", quote(d))
		}
	}

	r := p.walk(h, body, "text/plain", 0, topPath, false)
	m.Text = strings.Join(r.text, "")
	m.HTML = p.htmlView(r.view)
	// 8-bit header text that is not UTF-8 (RFC 6532) was read as Latin-1 too.
	m.CharsetGuessed = p.charsetGuessed || !utf8.Valid(raw[:len(raw)-len(body)])
	m.Attachments = r.atts
	for i := range m.Attachments {
		if m.Attachments[i].Filename == "" {
			m.Attachments[i].Filename = "attachment-" + strconv.Itoa(i+1) + extension(m.Attachments[i].ContentType)
		}
	}
	m.Problems, m.Issues = p.problems, p.issues
	return m, nil
}

// result is what one entity of the MIME tree shows.
type result struct {
	text []string // the text view; each piece ends with "\n" (pieces are concatenated)
	// view is what the HTML view shows, in order: HTML parts and the text parts
	// beside them. It shows HTML only when one of its pieces is HTML.
	view []piece
	atts []Attachment
}

// piece is one inline part of the HTML view.
type piece struct {
	s    string
	html bool // else plain text, escaped when shown
}

func (r *result) add(o result) {
	r.text = append(r.text, o.text...)
	r.view = append(r.view, o.view...)
	r.atts = append(r.atts, o.atts...)
}

func (r *result) hasHTML() bool {
	for _, pc := range r.view {
		if pc.html {
			return true
		}
	}
	return false
}

// htmlView joins the view into one HTML document, or returns "" when it holds
// no HTML part (the page then shows the text view). The escaped copies of text
// parts count against the size limit like everything else kept.
func (p *parser) htmlView(view []piece) string {
	if !(&result{view: view}).hasHTML() {
		return ""
	}
	var sb strings.Builder
	for i, pc := range view {
		if i > 0 {
			sb.WriteByte('\n')
		}
		if pc.html {
			sb.WriteString(pc.s)
			continue
		}
		s := textBlockStart + escapeHTML(pc.s) + textBlockEnd
		if n := p.take(int64(len(s))+1, topPath, "text") - 1; n < int64(len(s)) {
			break // over the limit: the rest is in the text view, cut short there too
		}
		sb.WriteString(s)
	}
	return sb.String()
}

// A text part in the HTML view keeps its line breaks and wraps long lines.
const (
	textBlockStart = `<pre style="white-space:pre-wrap;overflow-wrap:anywhere;font-family:inherit;font-size:inherit">`
	textBlockEnd   = "</pre>"
)

// escapeHTML escapes text for an HTML element's content (html.EscapeString
// would link the html package into the module).
func escapeHTML(s string) string {
	if !strings.ContainsAny(s, `&<>"'`) {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s) + 16)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			sb.WriteString("&amp;")
		case '<':
			sb.WriteString("&lt;")
		case '>':
			sb.WriteString("&gt;")
		case '"':
			sb.WriteString("&#34;")
		case '\'':
			sb.WriteString("&#39;")
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// topPath names the message's own body in problems; its parts are "part 1",
// "part 2", their parts "part 2.1", and so on (IMAP section numbers).
const topPath = "body"

// walk reads one entity. path is its IMAP-style section (topPath for the
// message's own body); resource is true for the non-root parts of a multipart/related,
// which are shown as (inline) files even when they are text.
func (p *parser) walk(h header, body []byte, defType string, depth int, path string, resource bool) result {
	var r result
	if p.parts >= p.opt.MaxParts {
		if !p.tooManyParts {
			p.tooManyParts = true
			p.problem(path, "too_many_parts", "too many parts; this and the following ones are not shown")
		}
		return r
	}
	p.parts++

	mt, params := defType, map[string]string(nil)
	if v := h.get("content-type"); v != "" {
		t, ps := p.parseValue(v)
		if validMediaType(t) {
			mt, params = t, ps
		} else if t == "text" {
			mt, params = "text/plain", ps
		} else {
			p.problem(path, "content_type", "unreadable Content-Type "+quote(v)+", read as text/plain", "type", quote(v))
			mt, params = "text/plain", ps
		}
	}
	var disp string
	var dparams map[string]string
	if v := h.get("content-disposition"); v != "" {
		disp, dparams = p.parseValue(v)
	}
	cte := lower(strings.TrimSpace(h.get("content-transfer-encoding")))

	if strings.HasPrefix(mt, "multipart/") {
		if depth >= p.opt.MaxDepth {
			p.problem(path, "nested", "multipart nested too deeply, not shown")
			return r
		}
		boundary := params["boundary"]
		if boundary == "" {
			p.problem(path, "no_boundary", "multipart without a boundary, shown as text")
			mt, params = "text/plain", nil
		} else {
			body = p.decodeTransfer(cte, body, path)
			raws, found, closed := splitMultipart(body, boundary, p.opt.MaxParts-p.parts+1)
			if !found {
				p.problem(path, "boundary_not_found", "no boundary line found in multipart, shown as text")
				mt, params = "text/plain", nil
				cte = ""
			} else {
				if !closed {
					p.problem(path, "no_final_boundary", "multipart without its final boundary; the parts read are shown")
				}
				if len(raws) == 0 {
					p.problem(path, "empty_multipart", "empty multipart")
				}
				return p.multipart(mt[len("multipart/"):], params, raws, depth, path)
			}
		}
	}

	filename := dparams["filename"]
	if filename == "" {
		filename = params["name"]
	}
	filename = cleanFilename(p.decodeWords(filename))
	data := p.decodeTransfer(cte, body, path)

	// Inline text is shown. A part marked inline that has a file name is shown
	// too (RFC 2183, section 2.1), and offered as that file as well.
	if (mt == "text/plain" || mt == "text/html") && disp != "attachment" && (filename == "" || disp == "inline") && !resource {
		s := p.decodeText(params["charset"], data, mt == "text/html")
		if mt == "text/plain" {
			s = strings.ReplaceAll(s, "\r\n", "\n")
			if lower(params["format"]) == "flowed" {
				s = unflow(s, lower(params["delsp"]) == "yes")
			}
			if s != "" && !strings.HasSuffix(s, "\n") {
				s += "\n"
			}
		}
		// One byte more for the separator when pieces are joined.
		if n := p.take(int64(len(s))+1, path, "text") - 1; n < int64(len(s)) {
			s = truncateUTF8(s, int(n))
		}
		if s != "" {
			if mt == "text/plain" {
				r.text = append(r.text, s)
			}
			r.view = append(r.view, piece{s, mt == "text/html"})
		}
		if filename == "" {
			return r
		}
	}

	if filename == "" && (mt == "message/rfc822" || mt == "message/global") {
		eh, _, _, _ := splitHeader(data)
		if s := cleanFilename(safeName(p.decodeWords(eh.get("subject")))); s != "" {
			filename = truncateUTF8(s, 100) + ".eml"
		}
	}
	if p.take(int64(len(data)), path, "attachment") < int64(len(data)) {
		return r
	}
	r.atts = append(r.atts, Attachment{
		Filename:    filename,
		ContentType: mt,
		ContentID:   stripAngles(h.get("content-id")),
		Inline:      disp == "inline" || (resource && disp != "attachment"),
		Data:        data,
	})
	return r
}

// multipart shows the parts of a multipart entity according to its subtype;
// unknown subtypes are read as multipart/mixed (RFC 2046, section 5.1.3).
func (p *parser) multipart(sub string, params map[string]string, raws [][]byte, depth int, path string) result {
	type part struct {
		h    header
		body []byte
	}
	parts := make([]part, len(raws))
	child := func(i int) string {
		if path == topPath {
			return strconv.Itoa(i + 1)
		}
		return path + "." + strconv.Itoa(i+1)
	}
	for i, raw := range raws {
		h, body, _, skipped := splitHeader(raw)
		if skipped {
			p.problem(child(i), "indented_header", "header starts with an indented line, which was skipped")
		}
		parts[i] = part{h, body}
	}
	defType := "text/plain"
	if sub == "digest" {
		defType = "message/rfc822"
	}

	var r result
	switch sub {
	case "alternative":
		// The last part the page can show wins, separately for HTML and for
		// text; parts that show neither (e.g. text/calendar) are kept as files.
		subs := make([]result, len(parts))
		hi, ti := -1, -1
		for i, pt := range parts {
			subs[i] = p.walk(pt.h, pt.body, defType, depth+1, child(i), false)
			if subs[i].hasHTML() {
				hi = i
			}
			if len(subs[i].text) > 0 {
				ti = i
			}
		}
		for i, s := range subs {
			switch {
			case i == hi || i == ti:
				if i == hi || hi < 0 {
					r.view = append(r.view, s.view...)
				}
				if i == ti {
					r.text = append(r.text, s.text...)
				}
				r.atts = append(r.atts, s.atts...)
			case len(s.view) == 0 && len(s.text) == 0:
				r.atts = append(r.atts, s.atts...)
			}
		}
	case "related":
		root := 0
		if start := stripAngles(params["start"]); start != "" {
			for i, pt := range parts {
				if stripAngles(pt.h.get("content-id")) == start {
					root = i
					break
				}
			}
		}
		for i, pt := range parts {
			r.add(p.walk(pt.h, pt.body, defType, depth+1, child(i), i != root))
		}
	default: // mixed, signed, encrypted, report, digest, parallel, ...
		for i, pt := range parts {
			r.add(p.walk(pt.h, pt.body, defType, depth+1, child(i), false))
		}
	}
	return r
}

// take reserves n decoded bytes and returns how many may be kept.
func (p *parser) take(n int64, path, what string) int64 {
	if n <= p.budget {
		p.budget -= n
		return n
	}
	got := p.budget
	p.budget = 0
	if !p.overBudget {
		p.overBudget = true
		if what == "text" {
			p.problem(path, "size_text", "size limit reached: text cut short, later parts not shown")
		} else {
			p.problem(path, "size_"+what, "size limit reached: "+what+" and later parts not shown")
		}
	}
	return got
}

// problem records a defect: at path, its id for the page's catalog, msg in
// English, and args (name/value pairs) for the catalog's sentence.
func (p *parser) problem(path, id, msg string, args ...string) {
	switch {
	case len(p.problems) < maxProblems:
	case len(p.problems) == maxProblems:
		msg, path, id, args = "too many problems; the rest are not listed", "-", "too_many", nil
	default:
		return
	}
	issue := Problem{ID: id}
	if len(args) > 0 {
		issue.Args = map[string]string{}
		for i := 0; i+1 < len(args); i += 2 {
			issue.Args[args[i]] = args[i+1]
		}
	}
	switch path {
	case "", "-":
		p.problems = append(p.problems, msg)
	case topPath:
		p.problems = append(p.problems, "body: "+msg)
		issue.Part = "body"
	default:
		p.problems = append(p.problems, "part "+path+": "+msg)
		issue.Part = path
	}
	p.issues = append(p.issues, issue)
}

// decodeTransfer undoes the Content-Transfer-Encoding (already lowercased).
func (p *parser) decodeTransfer(cte string, body []byte, path string) []byte {
	switch cte {
	case "", "7bit", "8bit", "binary":
		return body
	case "base64":
		d, bad, gaps, total := decodeBase64(body)
		// Characters outside the alphabet are ignored (RFC 2045, section 6.8),
		// but blanks inside lines, which base64 never has and prose does, or a
		// body of mostly such characters, say this is not base64 at all.
		if gaps*100 > total || bad*2 > total {
			p.problem(path, "base64", "bad base64, shown as is")
			return body
		}
		if bad > 0 {
			p.problem(path, "base64_skipped", "bad base64: "+strconv.Itoa(bad)+" invalid characters skipped", "count", strconv.Itoa(bad))
		}
		return d
	case "quoted-printable":
		return decodeQP(body)
	}
	p.problem(path, "transfer_encoding", "unknown Content-Transfer-Encoding "+quote(cte)+", read as 8bit", "encoding", quote(cte))
	return body
}

// addressHeader reads the first header of that name as an address list.
func (p *parser) addressHeader(h header, name string) []Address {
	v := h.get(name)
	if strings.TrimSpace(v) == "" {
		return nil
	}
	return p.parseAddressList(v)
}

// skipMboxFrom drops a leading mbox "From " separator line when a header
// field follows it.
func skipMboxFrom(raw []byte) []byte {
	if !bytes.HasPrefix(raw, []byte("From ")) {
		return raw
	}
	i := bytes.IndexByte(raw, '\n')
	if i < 0 || fieldColon(raw[i+1:]) < 0 {
		return raw
	}
	return raw[i+1:]
}

func stripAngles(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "<") {
		if i := strings.IndexByte(s, '>'); i > 0 {
			return strings.TrimSpace(s[1:i])
		}
		return strings.TrimSpace(s[1:])
	}
	return s
}

// quote quotes s for a problem message, cut to a readable length.
func quote(s string) string {
	return strconv.Quote(truncateUTF8(s, 60))
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// cleanFilename keeps the last path element of a suggested file name and drops
// control characters, so the page can use it as a download name.
func cleanFilename(s string) string {
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if s == "." || s == ".." {
		return ""
	}
	return truncateUTF8(s, 255)
}

// safeName turns a subject into something usable as a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(`/\:*?"<>|`, r) {
			return '_'
		}
		return r
	}, s)
}

var extensions = map[string]string{
	"application/gzip":              ".gz",
	"application/json":              ".json",
	"application/msword":            ".doc",
	"application/octet-stream":      ".bin",
	"application/pdf":               ".pdf",
	"application/pgp-encrypted":     ".pgp",
	"application/pgp-keys":          ".asc",
	"application/pgp-signature":     ".asc",
	"application/pkcs7-mime":        ".p7m",
	"application/pkcs7-signature":   ".p7s",
	"application/x-pkcs7-signature": ".p7s",
	"application/zip":               ".zip",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":       ".xlsx",
	"audio/mpeg":              ".mp3",
	"image/bmp":               ".bmp",
	"image/gif":               ".gif",
	"image/jpeg":              ".jpg",
	"image/png":               ".png",
	"image/svg+xml":           ".svg",
	"image/tiff":              ".tif",
	"image/webp":              ".webp",
	"message/delivery-status": ".txt",
	"message/global":          ".eml",
	"message/rfc822":          ".eml",
	"text/calendar":           ".ics",
	"text/css":                ".css",
	"text/csv":                ".csv",
	"text/html":               ".html",
	"text/plain":              ".txt",
	"text/rfc822-headers":     ".txt",
	"text/vcard":              ".vcf",
	"text/x-vcard":            ".vcf",
	"video/mp4":               ".mp4",
}

// extension returns the file extension for a generated attachment name.
func extension(mt string) string {
	if e, ok := extensions[mt]; ok {
		return e
	}
	if strings.HasPrefix(mt, "text/") {
		return ".txt"
	}
	return ".bin"
}
