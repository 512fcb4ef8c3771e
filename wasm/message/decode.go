package message

import (
	"bytes"
	"encoding/base64"
	"strings"
	"unicode/utf8"
)

// normCharset lowercases a charset label and drops quotes and an RFC 2231
// language suffix ("utf-8*en").
func normCharset(label string) string {
	cs := lower(strings.Trim(strings.TrimSpace(label), `"' `))
	if i := strings.IndexByte(cs, '*'); i >= 0 {
		cs = cs[:i]
	}
	return cs
}

// Labels decoded here; anything else goes to Options.Charset.
var (
	utf8Labels   = []string{"utf-8", "utf8", "unicode-1-1-utf-8"}
	asciiLabels  = []string{"", "us-ascii", "ascii", "us", "ansi_x3.4-1968", "iso646-us", "default"}
	latin1Labels = []string{"iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "l1", "cp819", "ibm819", "iso-ir-100", "csisolatin1"}
)

func isOneOf(s string, set []string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}

// decodeCharset decodes b from the labelled charset to UTF-8. It never fails:
// undecodable text becomes UTF-8 when it is valid UTF-8, else Latin-1.
func (p *parser) decodeCharset(label string, b []byte) string {
	cs := normCharset(label)
	switch {
	case isOneOf(cs, utf8Labels):
		return validUTF8(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")))
	case isOneOf(cs, asciiLabels):
		if utf8.Valid(b) { // 8-bit text labelled (or defaulting to) US-ASCII is most often UTF-8
			return string(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")))
		}
		return latin1(b)
	case isOneOf(cs, latin1Labels):
		return latin1(b)
	}
	if isASCII(b) && !strings.HasPrefix(cs, "utf-") && !strings.HasPrefix(cs, "iso-2022") && !strings.HasPrefix(cs, "hz") {
		return string(b) // no need to ask
	}
	if p.opt.Charset != nil {
		if s, ok := p.callCharset(cs, b); ok {
			return s
		}
	}
	if !p.badCharsets[cs] {
		if p.badCharsets == nil {
			p.badCharsets = map[string]bool{}
		}
		p.badCharsets[cs] = true
		p.problem("", "charset", "cannot decode charset "+quote(cs)+"; text may show wrongly", "charset", quote(cs))
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return latin1(b)
}

// callCharset calls the caller's decoder, which may fail or even panic (a JS
// exception through syscall/js).
func (p *parser) callCharset(cs string, b []byte) (s string, ok bool) {
	defer func() {
		if recover() != nil {
			s, ok = "", false
		}
	}()
	s, err := p.opt.Charset(cs, b)
	if err != nil {
		return "", false
	}
	return strings.ToValidUTF8(s, "\uFFFD"), true
}

// decodeText decodes a text body, looking for an HTML meta charset when the
// part does not name one.
func (p *parser) decodeText(charset string, b []byte, html bool) string {
	if charset == "" && html && !utf8.Valid(b) {
		charset = metaCharset(b)
	}
	if isOneOf(normCharset(charset), asciiLabels) && !utf8.Valid(b) {
		p.charsetGuessed = true // read as Latin-1 below
	}
	return p.decodeCharset(charset, b)
}

// metaCharset finds charset=... in the first 1024 bytes of an HTML document.
func metaCharset(b []byte) string {
	if len(b) > 1024 {
		b = b[:1024]
	}
	lc := []byte(lower(string(b)))
	i := bytes.Index(lc, []byte("charset="))
	if i < 0 {
		return ""
	}
	rest := bytes.TrimLeft(lc[i+len("charset="):], `"' `)
	n := 0
	for n < len(rest) && n < 40 {
		c := rest[n]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			break
		}
		n++
	}
	return string(rest[:n])
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// validUTF8 returns b as a string with each invalid byte replaced by U+FFFD.
func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 16)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			sb.WriteString("\uFFFD")
		} else {
			sb.Write(b[:n])
		}
		b = b[n:]
	}
	return sb.String()
}

// cp1252 maps bytes 0x80-0x9F as browsers do for ISO-8859-1 labels (the WHATWG
// Encoding Standard makes them windows-1252); the rest of Latin-1 maps to itself.
var cp1252 = [32]rune{
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
}

// latin1 decodes ISO-8859-1 (with windows-1252 in 0x80-0x9F, as browsers do).
func latin1(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/4)
	for _, c := range b {
		switch {
		case c < 0x80:
			sb.WriteByte(c)
		case c < 0xa0:
			sb.WriteRune(cp1252[c-0x80])
		default:
			sb.WriteRune(rune(c))
		}
	}
	return sb.String()
}

// decodeWords decodes the RFC 2047 encoded words in a header value. It is
// lenient: words next to other text and Q words containing spaces are decoded,
// whitespace between adjacent words is dropped, adjacent words in the same
// charset are decoded together (so a character split between them survives),
// and a malformed word is left as it is.
func (p *parser) decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	var out strings.Builder
	var pend []byte
	pendCS := ""
	flush := func() {
		if pendCS != "" || len(pend) > 0 {
			out.WriteString(p.decodeCharset(pendCS, pend))
		}
		pend, pendCS = pend[:0], ""
	}
	i, afterWord := 0, false
	lastEnd := strings.LastIndex(s, "?=")
	for i < len(s) {
		j := strings.Index(s[i:], "=?")
		if j < 0 {
			break
		}
		j += i
		cs, text, end, ok := encodedWord(s, j, lastEnd)
		if !ok {
			flush()
			out.WriteString(s[i : j+2])
			i, afterWord = j+2, false
			continue
		}
		if gap := s[i:j]; !afterWord || strings.Trim(gap, " \t") != "" {
			flush()
			out.WriteString(gap)
		}
		if lower(cs) != lower(pendCS) {
			flush()
			pendCS = cs
		}
		pend = append(pend, text...)
		i, afterWord = end, true
	}
	flush()
	out.WriteString(s[i:])
	return out.String()
}

// encodedWord reads the encoded word "=?charset?B|Q?text?=" at s[j:], returning
// its charset, decoded bytes and end. lastEnd is the index of the last "?=" in
// s, so that a word that cannot end fails without scanning s again.
func encodedWord(s string, j, lastEnd int) (charset string, text []byte, end int, ok bool) {
	rest := s[j+2:]
	q := strings.IndexByte(rest, '?')
	if q <= 0 || q > 64 || strings.ContainsAny(rest[:q], " \t") || len(rest) < q+3 || rest[q+2] != '?' {
		return "", nil, 0, false
	}
	charset, enc := rest[:q], rest[q+1]
	if strings.IndexByte("BbQq", enc) < 0 || j+2+q+3 > lastEnd {
		return "", nil, 0, false
	}
	body := rest[q+3:]
	e := strings.Index(body, "?=")
	if e < 0 {
		return "", nil, 0, false
	}
	body = body[:e]
	end = j + 2 + q + 3 + e + 2
	switch enc {
	case 'B', 'b':
		d, _, _, _ := decodeBase64([]byte(body))
		return charset, d, end, true
	case 'Q', 'q':
		out := make([]byte, 0, len(body))
		for k := 0; k < len(body); k++ {
			c := body[k]
			switch {
			case c == '_':
				out = append(out, ' ')
			case c == '=' && k+2 < len(body):
				hi, ok1 := unhex(body[k+1])
				lo, ok2 := unhex(body[k+2])
				if ok1 && ok2 {
					out = append(out, hi<<4|lo)
					k += 2
				} else {
					out = append(out, c)
				}
			default:
				out = append(out, c)
			}
		}
		return charset, out, end, true
	}
	return "", nil, 0, false
}

// b64 maps base64 characters to their values; 0xFE marks whitespace, 0xFF the rest.
var b64 = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	for _, c := range []byte(" \t\r\n\f\v") {
		t[c] = 0xFE
	}
	return t
}()

// decodeBase64 decodes base64 leniently: whitespace is skipped, padding is
// optional and may appear mid-stream (concatenated encodings), invalid
// characters are skipped and counted in bad. gaps counts blanks between
// characters of a line, which base64 never has but prose does; total counts the
// non-whitespace characters.
func decodeBase64(src []byte) (dst []byte, bad, gaps, total int) {
	// Well-formed base64 in CRLF lines, which is nearly all of it, goes through the
	// standard decoder: four times faster than the loop below, which matters for a
	// 10 MB attachment in WebAssembly.
	dst = make([]byte, base64.StdEncoding.DecodedLen(len(src)))
	if n, err := base64.StdEncoding.Decode(dst, src); err == nil {
		return dst[:n], 0, 0, n
	}
	dst = dst[:0]
	var acc uint32
	n := 0
	flush := func() {
		switch n {
		case 1:
			bad++ // six bits cannot make a byte
		case 2:
			dst = append(dst, byte(acc>>4))
		case 3:
			dst = append(dst, byte(acc>>10), byte(acc>>2))
		}
		acc, n = 0, 0
	}
	inLine, gap := false, false
	for _, c := range src {
		v := b64[c]
		if v == 0xFE {
			if c == '\n' {
				inLine, gap = false, false
			} else if inLine {
				gap = true
			}
			continue
		}
		if gap {
			gaps++
			gap = false
		}
		inLine = true
		switch {
		case v < 64:
			total++
			acc = acc<<6 | uint32(v)
			n++
			if n == 4 {
				dst = append(dst, byte(acc>>16), byte(acc>>8), byte(acc))
				acc, n = 0, 0
			}
		case c == '=':
			total++
			if n > 0 {
				flush()
			}
		default:
			total++
			bad++
		}
	}
	flush()
	return dst, bad, gaps, total
}

// decodeQP decodes quoted-printable leniently: trailing whitespace is dropped,
// "=" at the end of a line joins it to the next, and a malformed "=" escape is
// kept as it is. Line ends are kept as they were (CRLF or LF).
func decodeQP(src []byte) []byte {
	dst := make([]byte, 0, len(src))
	for len(src) > 0 {
		line, eol := src, []byte(nil)
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			line, src = src[:i], src[i+1:]
			eol = []byte("\n")
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
				eol = []byte("\r\n")
			}
		} else {
			src = nil
		}
		line = bytes.TrimRight(line, " \t")
		soft := false
		for k := 0; k < len(line); k++ {
			c := line[k]
			if c != '=' {
				dst = append(dst, c)
				continue
			}
			if k == len(line)-1 {
				soft = true
				break
			}
			if k+2 < len(line) {
				hi, ok1 := unhex(line[k+1])
				lo, ok2 := unhex(line[k+2])
				if ok1 && ok2 {
					dst = append(dst, hi<<4|lo)
					k += 2
					continue
				}
			}
			dst = append(dst, c)
		}
		if !soft {
			dst = append(dst, eol...)
		}
	}
	return dst
}

// unflow joins the soft line breaks of format=flowed text (RFC 3676). s has
// LF line ends.
func unflow(s string, delsp bool) string {
	trailingNL := strings.HasSuffix(s, "\n")
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	var out strings.Builder
	out.Grow(len(s))
	open, depth := false, 0 // whether a flowed paragraph is being continued, and its quote depth
	for _, line := range lines {
		d := 0
		for d < len(line) && line[d] == '>' {
			d++
		}
		content := strings.TrimPrefix(line[d:], " ") // space-stuffing
		if open && d != depth {
			out.WriteByte('\n')
			open = false
		}
		if !open && d > 0 {
			out.WriteString(line[:d])
			out.WriteByte(' ')
		}
		depth = d
		if strings.HasSuffix(content, " ") && content != "-- " {
			if delsp {
				content = content[:len(content)-1]
			}
			out.WriteString(content)
			open = true
			continue
		}
		out.WriteString(content)
		out.WriteByte('\n')
		open = false
	}
	res := out.String()
	if open && trailingNL {
		res += "\n"
	}
	if !trailingNL {
		res = strings.TrimSuffix(res, "\n")
	}
	return res
}
