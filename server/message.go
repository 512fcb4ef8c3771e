package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // charsets for encoded attachment names
	"github.com/emersion/go-message/textproto"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/locale"
	"github.com/waxseal/waxseal/server/policy"
)

// parsed is what the gateway reads from a message: enough to decide and to tell
// the sender, never the body.
type parsed struct {
	header      textproto.Header
	rawSubject  string
	from        *mail.Address // the From header's first address; nil if unreadable
	attachments []string      // file names, for the confirmation
	parts       int           // MIME parts walked so far
}

// headerFault says where a header that textproto.ReadHeader refused goes wrong,
// by line number only.
func headerFault(data []byte) *rejection {
	for line := 1; len(data) > 0; line++ {
		var l []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i], data[i+1:]
		} else {
			l, data = data, nil
		}
		l = bytes.TrimSuffix(l, []byte("\r"))
		if len(l) == 0 {
			break
		}
		if l[0] == ' ' || l[0] == '\t' {
			if line == 1 {
				return unparseable("reject.header_indented")
			}
			continue
		}
		colon := bytes.IndexByte(l, ':')
		if colon <= 0 || !validFieldName(l[:colon]) {
			return unparseable("reject.header_line", "Line", line)
		}
	}
	return unparseable("reject.header_malformed")
}

// validFieldName: printable US-ASCII but for the colon (RFC 5322 section 2.2);
// go-message allows white space before the colon too.
func validFieldName(b []byte) bool {
	b = bytes.TrimRight(b, " \t")
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// rejection is a message the gateway will not take: the reason in English for
// the SMTP reply (which mail clients show as the server wrote it, and
// operators search logs for), and in the catalog's words for the sender's
// bounce notice.
type rejection struct {
	code     int
	enhanced [3]int
	reason   string                      // the shipped English catalog's
	say      func(*locale.Locale) string // the reason in a language
}

func (r *rejection) Error() string { return r.reason }

// reject is a rejection whose reason say tells in a language.
func reject(code int, enhanced [3]int, say func(*locale.Locale) string) *rejection {
	return &rejection{code, enhanced, say(locale.English()), say}
}

// unparseable is a 554 for a message that cannot be read: the catalog's
// message id (reject.*) and its name/value pairs.
func unparseable(id string, args ...any) *rejection {
	return reject(554, [3]int{5, 6, 0}, func(l *locale.Locale) string { return l.T(id, args...) })
}

// maxMIMEDepth bounds nesting, so a hostile message cannot make the walk recurse
// without end.
const maxMIMEDepth = 20

// readHeader reads the message's header: all that deciding needs. It returns
// the body for checkBody.
func readHeader(data []byte) (*parsed, *bufio.Reader, error) {
	br := bufio.NewReader(bytes.NewReader(data))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		// go-message quotes the offending line: message text, which must not
		// reach a reply, a log or a notice. Say where it is instead.
		return nil, nil, headerFault(data)
	}
	if h.Len() == 0 {
		return nil, nil, unparseable("reject.no_header")
	}
	// A control character in a header is refused, not cleaned: what the
	// gateway checks and what the recipient's client shows could differ
	// ("PHI\x00:"). The reply and the bounce say which field, never what it holds.
	for f := h.Fields(); f.Next(); {
		if policy.HasControl(f.Value()) || strings.ContainsFunc(f.Key(), func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			if name := fieldName(f.Key()); name != "" {
				return nil, nil, unparseable("reject.control", "Field", name)
			}
			return nil, nil, unparseable("reject.control_unnamed")
		}
	}
	p := &parsed{header: h}
	subjects := h.Values("Subject")
	if len(subjects) > 1 {
		// Two subjects: the gateway could check one and the recipient see the other.
		return nil, nil, unparseable("reject.subjects", "Count", len(subjects))
	}
	if len(subjects) == 1 {
		p.rawSubject = subjects[0]
	}
	if list, err := addressParser.ParseList(h.Get("From")); err == nil && len(list) > 0 {
		p.from = list[0]
	}
	return p, br, nil
}

// fieldName is a header field's name if it is a plain one, else "".
func fieldName(k string) string {
	if k == "" || len(k) > 40 || strings.ContainsFunc(k, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-')
	}) {
		return ""
	}
	return k
}

// addressParser decodes display names in any charset (policy.WordDecoder).
var addressParser = &mail.AddressParser{WordDecoder: policy.WordDecoder()}

// checkBody walks the MIME structure of the body readHeader returned, to check
// every attachment against the limit and collect the names. When strict
// (triggered mail) a body whose structure cannot be read is refused too, since
// the envelope must hold what the sender sent and the confirmation must name
// what was in it.
func (p *parsed) checkBody(body *bufio.Reader, maxAttachment int64, strict bool) error {
	ent, err := message.New(message.Header{Header: p.header}, body)
	if err != nil && !message.IsUnknownEncoding(err) && !message.IsUnknownCharset(err) {
		// The error may quote the message: never passed on (see readHeader).
		if strict {
			return unparseable("reject.mime")
		}
		return nil
	}
	if err := p.walk(ent, 0, maxAttachment); err != nil {
		var rej *rejection
		if errors.As(err, &rej) && rej.code == 552 {
			return rej // the attachment limit holds for all mail
		}
		if strict {
			return err
		}
	}
	return nil
}

// walk checks e and its parts. Reasons name a part by its position (MIME part
// n, counted depth-first from 1 for the first part of the top-level multipart;
// attachment n), never by anything written in it: not even a file name goes into
// a reply or a log.
func (p *parsed) walk(e *message.Entity, depth int, maxAttachment int64) error {
	if depth > maxMIMEDepth {
		return unparseable("reject.nested", "Max", maxMIMEDepth)
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				return nil
			}
			p.parts++
			if err != nil && !message.IsUnknownEncoding(err) && !message.IsUnknownCharset(err) {
				return unparseable("reject.part_malformed", "Part", p.parts)
			}
			if err := p.walk(part, depth+1, maxAttachment); err != nil {
				return err
			}
		}
	}
	name := attachmentName(e.Header)
	if name != "" || isAttachment(e.Header) {
		if name == "" {
			name = "(unnamed attachment)"
		}
		n, part := len(p.attachments)+1, p.parts
		// Sizes are counted decoded, as the recipient will get them; reading at
		// most one byte over the limit keeps a huge part from costing more.
		size, err := io.Copy(io.Discard, io.LimitReader(e.Body, maxAttachment+1))
		if err != nil {
			return unparseable("reject.undecodable", "N", n, "Part", part)
		}
		if size > maxAttachment {
			return reject(552, [3]int{5, 3, 4}, func(l *locale.Locale) string {
				return l.T("reject.attachment_large", "N", n, "Part", part, "Max", formatSize(l, maxAttachment))
			})
		}
		p.attachments = append(p.attachments, name)
	}
	return nil
}

func isAttachment(h message.Header) bool {
	disp, _, _ := h.ContentDisposition()
	return strings.EqualFold(disp, "attachment")
}

// attachmentName is a part's file name (Content-Disposition filename, else
// Content-Type name), decoded, and made safe to print: no control characters, at
// most 200 characters.
func attachmentName(h message.Header) string {
	_, dp, _ := h.ContentDisposition()
	name := dp["filename"]
	if name == "" {
		_, tp, _ := h.ContentType()
		name = tp["name"]
	}
	if name == "" {
		return ""
	}
	return printable(policy.DecodeSubject(name), 200)
}

// sentAttachmentNames are the names registered for the sender's Sent items
// (Config.SentAttachmentNames), made to pass the key server's checks
// (keyserver.ValidateAttachmentNames) so that a hostile name cannot fail the
// registration: refused characters become spaces, a name is cut to the byte
// limit at a character boundary, and past the limit on their number the last
// name says how many more there are.
func sentAttachmentNames(names []string) []string {
	var out []string
	for i, n := range names {
		if len(out) == keyserver.MaxAttachmentNames-1 && len(names)-i > 1 {
			out = append(out, fmt.Sprintf("(and %d more)", len(names)-i))
			break
		}
		n = strings.TrimSpace(strings.Map(func(r rune) rune {
			if keyserver.IsAttachmentNameControl(r) {
				return ' '
			}
			return r
		}, strings.ToValidUTF8(n, "\uFFFD")))
		if len(n) > keyserver.MaxAttachmentNameBytes {
			cut := keyserver.MaxAttachmentNameBytes - len("…")
			for cut > 0 && !utf8.RuneStart(n[cut]) {
				cut--
			}
			n = n[:cut] + "…"
		}
		if n == "" {
			n = "(unnamed attachment)"
		}
		out = append(out, n)
	}
	return out
}

// printable replaces control characters and cuts s to max runes.
func printable(s string, max int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == max {
			b.WriteString("…")
			break
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' || r == '\u202e' {
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// formatSize writes a limit in l's words: "10 MB (10485760 bytes)".
func formatSize(l *locale.Locale, n int64) string {
	return l.T("size.exact", "MB", megabytes(l, n), "Bytes", n)
}

// megabytes writes n in MB, whole or to one decimal in l's way ("11,2").
func megabytes(l *locale.Locale, n int64) string {
	const mb = 1 << 20
	if n%mb == 0 {
		return strconv.FormatInt(n/mb, 10)
	}
	return strings.Replace(strconv.FormatFloat(float64(n)/mb, 'f', 1, 64), ".", l.T("number.decimal"), 1)
}

// oversize is the refusal of a message of n bytes, over the message limit: it
// names both, as the sender's bounce will show them.
func (g *Gateway) oversize(n int64) *rejection {
	return reject(552, [3]int{5, 3, 4}, func(l *locale.Locale) string {
		return l.T("reject.oversize", "Size", shortSize(l, n), "Max", shortSize(l, g.cfg.MaxMessageBytes))
	})
}

// shortSize is n in MB (2^20 bytes), to one decimal unless whole ("11.2 MB"),
// or in bytes under a tenth of one, in l's words.
func shortSize(l *locale.Locale, n int64) string {
	if n < 1<<20/10 {
		return l.T("size.bytes", "Bytes", n)
	}
	return l.T("size.mb", "MB", megabytes(l, n))
}

// headerEnd returns the offset of the body (after the blank line), or len(data)
// if the message has no body.
func headerEnd(data []byte) int {
	if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		if j := bytes.Index(data, []byte("\n\n")); j >= 0 && j < i {
			return j + 2
		}
		return i + 4
	}
	if j := bytes.Index(data, []byte("\n\n")); j >= 0 {
		return j + 2
	}
	return len(data)
}

// stripHeader returns data without the named header fields (with their folded
// continuation lines). The rest of the message is untouched, byte for byte.
func stripHeader(data []byte, name string) []byte {
	end := headerEnd(data)
	head := data[:end]
	prefix := []byte(strings.ToLower(name) + ":")
	var out []byte
	found := false
	skipping := false
	for len(head) > 0 {
		i := bytes.IndexByte(head, '\n')
		line := head
		if i >= 0 {
			line = head[:i+1]
		}
		head = head[len(line):]
		if skipping && (line[0] == ' ' || line[0] == '\t') {
			continue
		}
		skipping = false
		if len(line) >= len(prefix) && bytes.Equal(bytes.ToLower(line[:len(prefix)]), prefix) {
			if !found {
				out = append(make([]byte, 0, len(data)), data[:end-len(head)-len(line)]...)
				found = true
			}
			skipping = true
			continue
		}
		if found {
			out = append(out, line...)
		}
	}
	if !found {
		return data
	}
	return append(out, data[end:]...)
}
