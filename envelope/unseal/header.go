package unseal

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/waxseal/waxseal/envelope/internal/detail"
	"github.com/waxseal/waxseal/internal/calendar"
)

// Header is an envelope header as read (docs/FORMAT.md §4). Times are kept as
// written, in the one form the format allows: "2026-11-22T13:09:59Z".
type Header struct {
	Version   int
	ID        ID
	KeyServer string // origin: scheme://host[:port]
	From      string
	To        string
	Subject   string
	Created   string
	Expires   string // "" when the envelope does not expire
	Size      int64  // plaintext bytes of the payload
}

// OpenURL is where the envelope's form posts to, without the key fragment.
func (h *Header) OpenURL() string { return h.KeyServer + "/open/" + h.ID.String() }

// maxDepth bounds the nesting of unknown fields a reader skips.
const maxDepth = 32

// ParseHeader reads and checks a header's JSON. It is stricter than RFC 8259 asks
// of a parser where the format's writer never goes: a known field given twice, a
// known field of the wrong type (null included), invalid UTF-8 and lone surrogates
// are errors. Unknown fields are skipped, as the format requires.
func ParseHeader(b []byte) (*Header, error) {
	p := &jsonReader{b: b}
	var h Header
	var id string // parsed after the version is checked
	seen := map[string]bool{}
	err := p.object(func(name string) error {
		switch name {
		case "v", "id", "keyserver", "from", "to", "subject", "created", "expires", "size":
		default:
			return p.skip(0)
		}
		if seen[name] {
			return p.fail("field " + strconv.Quote(name) + " appears twice")
		}
		seen[name] = true
		switch name {
		case "v":
			n, err := p.integer(name)
			h.Version = int(n)
			return err
		case "size":
			n, err := p.integer(name)
			h.Size = n
			return err
		}
		s, err := p.str(name)
		switch name {
		case "id":
			id = s
		case "keyserver":
			h.KeyServer = s
		case "from":
			h.From = s
		case "to":
			h.To = s
		case "subject":
			h.Subject = s
		case "created":
			h.Created = s
		case "expires":
			h.Expires = s
		}
		return err
	})
	if err == nil {
		p.space()
		if p.i != len(p.b) {
			err = p.fail("data after the object")
		}
	}
	if err != nil {
		return nil, detail.Wrap(ErrMalformed, "header is not valid JSON: ", err.Error())
	}
	// The version first: a later version may change everything else.
	if h.Version != Version {
		return nil, detail.Wrap(ErrUnsupportedVersion, detail.Int(h.Version))
	}
	for _, required := range [...]string{"id", "keyserver", "created", "size"} {
		if !seen[required] {
			return nil, detail.Wrap(ErrMalformed, "header: no ", required)
		}
	}
	if h.ID, err = ParseID(id); err != nil {
		return nil, detail.Wrap(ErrMalformed, "header: ", err.Error())
	}
	if err := h.validate(); err != nil {
		return nil, detail.Wrap(ErrMalformed, "header: ", err.Error())
	}
	return &h, nil
}

func (h *Header) validate() error {
	if h.ID.IsZero() {
		return errorText("no id")
	}
	if err := CheckOrigin(h.KeyServer); err != nil {
		return err
	}
	if h.Size < 0 {
		return errorText("negative size " + detail.Int(h.Size))
	}
	if h.Created == "" {
		return errorText("no creation time")
	}
	if !validTime(h.Created) {
		return errorText("created " + detail.Quote(h.Created, 40) + ": want YYYY-MM-DDTHH:MM:SSZ")
	}
	if h.Expires != "" && !validTime(h.Expires) {
		return errorText("expires " + detail.Quote(h.Expires, 40) + ": want YYYY-MM-DDTHH:MM:SSZ")
	}
	for _, f := range [...]struct{ name, v string }{{"from", h.From}, {"to", h.To}, {"subject", h.Subject}} {
		if strings.ContainsAny(f.v, "\r\n\x00") {
			return errorText(f.name + " contains a line break or NUL")
		}
	}
	return nil
}

type errorText string

func (e errorText) Error() string { return string(e) }

// validTime accepts exactly the RFC 3339 form the format uses: UTC, whole seconds.
func validTime(s string) bool {
	if len(s) != len("2006-01-02T15:04:05Z") || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
		s[13] != ':' || s[16] != ':' || s[19] != 'Z' {
		return false
	}
	num := func(from, to int) int {
		n := 0
		for _, c := range []byte(s[from:to]) {
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, month, day := num(0, 4), num(5, 7), num(8, 10)
	hour, minute, second := num(11, 13), num(14, 16), num(17, 19)
	return year >= 0 && 1 <= month && month <= 12 && 1 <= day && day <= calendar.DaysIn(year, month) &&
		0 <= hour && hour <= 23 && 0 <= minute && minute <= 59 && 0 <= second && second <= 59
}

// CheckOrigin accepts a key server origin in the canonical form the format
// requires: https://host[:port], lowercase, nothing after the host and port; http
// only for loopback hosts. Writers canonicalise (envelope.Origin); readers only
// check.
func CheckOrigin(s string) error {
	bad := func(why string) error { return errorText("key server " + detail.Quote(s, 80) + ": " + why) }
	scheme, hostport, ok := strings.Cut(s, "://")
	if !ok || (scheme != "https" && scheme != "http") {
		return bad("want https (http only for localhost)")
	}
	const form = "want scheme://host[:port] in lowercase and nothing else"
	host, port := hostport, ""
	if strings.HasPrefix(hostport, "[") { // an IPv6 address
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return bad("unterminated IPv6 address")
		}
		host, port = hostport[:end+1], hostport[end+1:]
		if end == 1 || strings.Trim(host[1:end], "0123456789abcdef:.") != "" {
			return bad(form)
		}
	} else {
		if i := strings.IndexByte(hostport, ':'); i >= 0 {
			host, port = hostport[:i], hostport[i:]
		}
		if host == "" || strings.Trim(host, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
			return bad(form)
		}
	}
	if port != "" {
		digits := port[1:]
		n, err := strconv.Atoi(digits)
		if port[0] != ':' || err != nil || digits[0] == '0' || n < 1 || n > 65535 || strconv.Itoa(n) != digits {
			return bad("invalid port")
		}
	}
	if scheme == "http" && !isLoopback(host) {
		return bad("want https (http only for localhost)")
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || host == "[::1]" {
		return true
	}
	octets := strings.Split(host, ".")
	if len(octets) != 4 || octets[0] != "127" {
		return false
	}
	for _, o := range octets {
		n, err := strconv.Atoi(o)
		if err != nil || n > 255 || strconv.Itoa(n) != o {
			return false
		}
	}
	return true
}

// jsonReader reads the one JSON shape a header is: an object whose known members
// are strings and integers. Hand-written because encoding/json (with reflect)
// would add about 340 KB to the browser decryptor.
type jsonReader struct {
	b []byte
	i int
}

func (p *jsonReader) fail(why string) error {
	return errorText(why + " at offset " + strconv.Itoa(p.i))
}

func (p *jsonReader) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonReader) peek() byte {
	p.space()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *jsonReader) expect(c byte) error {
	if p.peek() != c {
		return p.fail("want " + strconv.QuoteRune(rune(c)))
	}
	p.i++
	return nil
}

// object reads an object, calling member with each name, positioned at its value;
// member must consume the value.
func (p *jsonReader) object(member func(name string) error) error {
	if err := p.expect('{'); err != nil {
		return err
	}
	if p.peek() == '}' {
		p.i++
		return nil
	}
	for {
		name, err := p.str("name")
		if err != nil {
			return err
		}
		if err := p.expect(':'); err != nil {
			return err
		}
		if err := member(name); err != nil {
			return err
		}
		switch p.peek() {
		case ',':
			p.i++
		case '}':
			p.i++
			return nil
		default:
			return p.fail("want ',' or '}'")
		}
	}
}

func (p *jsonReader) str(what string) (string, error) {
	if p.peek() != '"' {
		return "", p.fail(what + ": want a string")
	}
	p.i++
	var sb []byte
	for {
		if p.i >= len(p.b) {
			return "", p.fail("unterminated string")
		}
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(sb), nil
		case c < 0x20:
			return "", p.fail("control character in string")
		case c == '\\':
			if err := p.escape(&sb); err != nil {
				return "", err
			}
		case c < utf8.RuneSelf:
			sb = append(sb, c)
			p.i++
		default:
			r, n := utf8.DecodeRune(p.b[p.i:])
			if r == utf8.RuneError && n == 1 {
				return "", p.fail("invalid UTF-8")
			}
			sb = append(sb, p.b[p.i:p.i+n]...)
			p.i += n
		}
	}
}

func (p *jsonReader) escape(sb *[]byte) error {
	if p.i+1 >= len(p.b) {
		return p.fail("unterminated escape")
	}
	c := p.b[p.i+1]
	p.i += 2
	if simple := strings.IndexByte(`"\/bfnrt`, c); simple >= 0 {
		*sb = append(*sb, "\"\\/\b\f\n\r\t"[simple])
		return nil
	}
	if c != 'u' {
		return p.fail("invalid escape")
	}
	r, ok := p.hex4()
	if !ok {
		return p.fail("invalid \\u escape")
	}
	if 0xd800 <= r && r < 0xdc00 { // a high surrogate: its low half must follow
		if p.i+1 < len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
			p.i += 2
			lo, ok := p.hex4()
			if ok && 0xdc00 <= lo && lo < 0xe000 {
				*sb = utf8.AppendRune(*sb, 0x10000+(r-0xd800)<<10+(lo-0xdc00))
				return nil
			}
		}
		return p.fail("lone surrogate")
	}
	if 0xdc00 <= r && r < 0xe000 {
		return p.fail("lone surrogate")
	}
	*sb = utf8.AppendRune(*sb, r)
	return nil
}

func (p *jsonReader) hex4() (rune, bool) {
	if p.i+4 > len(p.b) {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	p.i += 4
	return r, true
}

// integer reads a JSON number that must be an integer in int64's range.
func (p *jsonReader) integer(what string) (int64, error) {
	p.space()
	start := p.i
	end, isInt := p.number()
	if end == start {
		return 0, p.fail(what + ": want a number")
	}
	if !isInt {
		return 0, p.fail(what + ": want an integer")
	}
	n, err := strconv.ParseInt(string(p.b[start:end]), 10, 64)
	if err != nil {
		return 0, p.fail(what + ": out of range")
	}
	p.i = end
	return n, nil
}

// number scans a JSON number at p.i and returns where it ends (p.i if there is
// none) and whether it has neither fraction nor exponent.
func (p *jsonReader) number() (end int, isInt bool) {
	i, b := p.i, p.b
	digits := func() int {
		start := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i - start
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if digits() == 0 {
		return p.i, false
	}
	isInt = true
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return p.i, false
		}
		isInt = false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return p.i, false
		}
		isInt = false
	}
	return i, isInt
}

// skip reads any JSON value, for a member the reader does not know.
func (p *jsonReader) skip(depth int) error {
	if depth > maxDepth {
		return p.fail("nested too deeply")
	}
	switch c := p.peek(); {
	case c == '{':
		return p.object(func(string) error { return p.skip(depth + 1) })
	case c == '[':
		p.i++
		if p.peek() == ']' {
			p.i++
			return nil
		}
		for {
			if err := p.skip(depth + 1); err != nil {
				return err
			}
			switch p.peek() {
			case ',':
				p.i++
			case ']':
				p.i++
				return nil
			default:
				return p.fail("want ',' or ']'")
			}
		}
	case c == '"':
		_, err := p.str("value")
		return err
	case c == '-' || '0' <= c && c <= '9':
		end, _ := p.number()
		if end == p.i {
			return p.fail("invalid number")
		}
		p.i = end
		return nil
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if strings.HasPrefix(string(p.b[p.i:min(p.i+5, len(p.b))]), lit) {
				p.i += len(lit)
				return nil
			}
		}
		return p.fail("invalid value")
	}
}
