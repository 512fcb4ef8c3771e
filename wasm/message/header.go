package message

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// field is one header field, its name lowercased and its value unfolded.
type field struct {
	name, value string
}

type header []field

// get returns the value of the first field with that (lowercase) name, trimmed.
func (h header) get(name string) string {
	for _, f := range h {
		if f.name == name {
			return strings.TrimSpace(f.value)
		}
	}
	return ""
}

// splitHeader splits an entity into its header fields and its body. The header
// ends at the first empty line; a line that is neither a field nor a
// continuation also ends it (unterminated is then true) and starts the body. An
// entity whose first line is not a field has no header: all of it is the body,
// except that indented lines before a first field, which continue nothing, are
// skipped (skipped is then true) rather than losing the whole header.
func splitHeader(b []byte) (h header, body []byte, unterminated, skipped bool) {
	i := 0
	if n := indentedStart(b); n > 0 {
		i, skipped = n, true
	}
	start, colon := -1, 0 // the field being read: where it starts, where its colon is
	flush := func(end int) {
		if start >= 0 {
			h = append(h, field{
				name:  lower(string(bytes.TrimRight(b[start:colon], " \t"))),
				value: headerText(unfold(b[colon+1 : end])),
			})
			start = -1
		}
	}
	for i < len(b) {
		next := len(b)
		end := next
		if j := bytes.IndexByte(b[i:], '\n'); j >= 0 {
			end, next = i+j, i+j+1
		}
		line := b[i:end]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		switch {
		case len(line) == 0:
			flush(i)
			return h, b[next:], false, skipped
		case line[0] == ' ' || line[0] == '\t':
			if start < 0 {
				flush(i)
				return h, b[i:], len(h) > 0, skipped
			}
		default:
			c := fieldColon(line)
			if c < 0 {
				flush(i)
				return h, b[i:], len(h) > 0, skipped
			}
			flush(i)
			start, colon = i, i+c
		}
		i = next
	}
	flush(len(b))
	return h, nil, false, skipped
}

// indentedStart returns the length of the indented lines at the start of b when a
// header field follows them, else 0. Such a header is broken (its first line
// continues nothing), and other readers differ: net/textproto refuses it, others
// drop the line. Dropping it keeps the fields; reading everything as the body
// would show the header as text and lose the From, the Subject and the MIME
// structure.
func indentedStart(b []byte) int {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return 0
		}
		if len(bytes.TrimSpace(b[i:i+j])) == 0 {
			return 0 // a blank line: the header ends before any field
		}
		i += j + 1
	}
	if i == 0 || fieldColon(b[i:]) < 0 { // fieldColon stops at the line end
		return 0
	}
	return i
}

// fieldColon returns the index of the colon ending a field name at the start of
// line, or -1 when the line does not start with a field name.
func fieldColon(line []byte) int {
	for k, c := range line {
		switch {
		case c == ':':
			if k == 0 {
				return -1
			}
			return k
		case c == ' ' || c == '\t':
			// allowed only between the name and the colon
			rest := bytes.TrimLeft(line[k:], " \t")
			if len(rest) == 0 || rest[0] != ':' {
				return -1
			}
			return len(line) - len(rest)
		case c < 33 || c > 126:
			return -1
		}
	}
	return -1
}

// unfold removes the line breaks of a folded header value. A CR alone, which
// old mailers wrote as a line break, reads as a blank, as net/textproto reads it.
func unfold(v []byte) []byte {
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return v
	}
	out := make([]byte, 0, len(v))
	for i, c := range v {
		switch {
		case c == '\r' && (i+1 == len(v) || v[i+1] != '\n'):
			out = append(out, ' ')
		case c != '\r' && c != '\n':
			out = append(out, c)
		}
	}
	return out
}

// headerText turns raw header bytes into a string: UTF-8 (RFC 6532) when valid,
// else Latin-1.
func headerText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return latin1(b)
}

// validMediaType reports whether t is a lowercase "type/subtype" of token characters.
func validMediaType(t string) bool {
	i := strings.IndexByte(t, '/')
	return i > 0 && i < len(t)-1 && isToken(t[:i]) && isToken(t[i+1:])
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return s != ""
}

// parseValue reads a Content-Type or Content-Disposition value: the lowercased
// value before the first ";" and its parameters (names lowercased), RFC 2231
// continuations and charsets resolved. It is lenient: unquoted values with
// spaces, missing closing quotes and stray semicolons are accepted.
func (p *parser) parseValue(v string) (string, map[string]string) {
	first, rest, _ := strings.Cut(v, ";")
	first = lower(strings.TrimSpace(first))
	if i := strings.IndexByte(first, '('); i >= 0 { // a trailing comment
		first = strings.TrimSpace(first[:i])
	}
	params := map[string]string{}
	type segment struct {
		value   string
		encoded bool
	}
	// RFC 2231 parameters by name and segment number, names in order of appearance
	var ext map[string]map[int]segment
	var extNames []string
	segments := 0
	for rest != "" {
		rest = strings.TrimLeft(rest, " \t;")
		if rest == "" {
			break
		}
		// the name, up to "=" or ";"
		k := strings.IndexAny(rest, "=;")
		if k < 0 || rest[k] == ';' {
			if k < 0 {
				break
			}
			rest = rest[k:]
			continue
		}
		name := lower(strings.TrimSpace(rest[:k]))
		rest = strings.TrimLeft(rest[k+1:], " \t")
		var value string
		if strings.HasPrefix(rest, `"`) {
			var sb strings.Builder
			j := 1
			for ; j < len(rest) && rest[j] != '"'; j++ {
				// A backslash escapes only a special character, so that a
				// Windows path ("C:\dir\file.txt", as some mailers write it)
				// keeps its separators, as mime.ParseMediaType reads it.
				if rest[j] == '\\' && j+1 < len(rest) && strings.IndexByte(`()<>@,;:\"/[]?=`, rest[j+1]) >= 0 {
					j++
				}
				sb.WriteByte(rest[j])
			}
			value = sb.String()
			if j < len(rest) {
				j++
			}
			rest = rest[j:]
			// anything up to the next ";" after the closing quote is ignored
			if k := strings.IndexByte(rest, ';'); k >= 0 {
				rest = rest[k:]
			} else {
				rest = ""
			}
		} else {
			k := strings.IndexByte(rest, ';')
			if k < 0 {
				k = len(rest)
			}
			value = strings.TrimSpace(rest[:k])
			rest = rest[k:]
		}
		if name == "" {
			continue
		}
		star := strings.IndexByte(name, '*')
		if star < 0 {
			if _, dup := params[name]; !dup {
				params[name] = value
			}
			continue
		}
		base, suffix := name[:star], name[star+1:]
		n, seg := 0, segment{value: value, encoded: true} // name*=charset'lang'value
		if suffix != "" {                                 // name*N=value or name*N*=value
			num, enc := strings.CutSuffix(suffix, "*")
			var err error
			n, err = strconv.Atoi(num)
			if err != nil || n < 0 || n > 999 || strings.HasPrefix(num, "+") {
				continue
			}
			seg.encoded = enc
		}
		if segments >= 1000 {
			continue
		}
		if ext == nil {
			ext = map[string]map[int]segment{}
		}
		segs := ext[base]
		if segs == nil {
			segs = map[int]segment{}
			ext[base] = segs
			extNames = append(extNames, base)
		}
		if _, dup := segs[n]; !dup {
			segs[n] = seg
			segments++
		}
	}
	for _, base := range extNames {
		segs := ext[base]
		if _, ok := segs[0]; !ok {
			continue
		}
		var buf []byte
		charset := ""
		for i := 0; ; i++ { // segments count up from 0; a gap ends them
			s, ok := segs[i]
			if !ok {
				break
			}
			val := s.value
			if s.encoded {
				if i == 0 {
					if a, b, ok := strings.Cut(val, "'"); ok {
						if _, c, ok := strings.Cut(b, "'"); ok {
							charset, val = a, c
						}
					}
				}
				buf = append(buf, percentDecode(val)...)
			} else {
				buf = append(buf, val...)
			}
		}
		params[base] = p.decodeCharset(charset, buf)
	}
	return first, params
}

// percentDecode undoes RFC 2231 %XX escapes; a malformed escape is kept as is.
func percentDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if hi, ok := unhex(s[i+1]); ok {
				if lo, ok := unhex(s[i+2]); ok {
					out = append(out, hi<<4|lo)
					i += 2
					continue
				}
			}
		}
		out = append(out, s[i])
	}
	return out
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// lower lowercases ASCII letters only. Header names, media types and charset
// labels are ASCII, and this keeps the Unicode case tables out of the module.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// fields splits s at runs of ASCII whitespace.
func fields(s string) []string {
	var out []string
	start := -1
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n' {
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	return out
}
