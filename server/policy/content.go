package policy

import (
	"bufio"
	"bytes"
	"fmt"
	"html"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // text parts in any charset
	"github.com/emersion/go-message/textproto"
)

// Content rules seal a message that carries protected data without a
// trigger: a US Social Security number, a National Provider Identifier, or the
// organisation's own patterns (its MRN format). They read the subject, the text
// and HTML bodies (as text) and text/* attachments, up to a bound; they never
// keep, log or tell what they matched, only which rule did.

// Content rule kinds and actions.
const (
	KindSSN   = "ssn"
	KindNPI   = "npi"
	KindRegex = "regex"

	ActionSeal          = "seal"
	ActionSealAndNotify = "seal_and_notify"
)

// ContentRule configures one rule ([[gateway.content.rules]]).
type ContentRule struct {
	Name string `toml:"name"`
	Kind string `toml:"kind"` // ssn | npi | regex
	// Pattern is the regular expression (RE2 syntax) of a regex rule.
	Pattern string `toml:"pattern"`
	// Keywords, if any, must appear within Near characters (default 40) of a
	// match for it to count ("MRN", "DOB"); any case.
	Keywords []string `toml:"keywords"`
	Near     int      `toml:"near"`
	Action   string   `toml:"action"` // seal (default) | seal_and_notify
}

// DefaultMaxScanBytes bounds the text a message's content is scanned in.
const DefaultMaxScanBytes = 10 << 20

// ssnKeywords make a 9-digit number without dashes count as an SSN (it is too
// often an order or account number on its own).
var ssnKeywords = []string{"ssn", "social security", "ss#", "soc sec"}

type contentRule struct {
	ContentRule
	re       *regexp.Regexp
	keywords [][]byte // lower case
}

// ContentRules is a compiled rule set; nil scans nothing.
type ContentRules struct {
	rules        []contentRule
	maxScan      int64
	firstNumeric int // index of the first SSN or NPI rule; a match of it ends the pass
}

// NewContentRules checks and compiles rules. maxScan bounds the text scanned
// per message (0: DefaultMaxScanBytes).
func NewContentRules(rules []ContentRule, maxScan int64) (*ContentRules, error) {
	if len(rules) == 0 {
		return nil, nil
	}
	if maxScan <= 0 {
		maxScan = DefaultMaxScanBytes
	}
	c := &ContentRules{maxScan: maxScan}
	seen := map[string]bool{}
	for _, r := range rules {
		if strings.TrimSpace(r.Name) == "" {
			return nil, fmt.Errorf("content rule without a name")
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("content rule %q: the name is used twice", r.Name)
		}
		seen[r.Name] = true
		cr := contentRule{ContentRule: r}
		switch r.Action {
		case "":
			cr.Action = ActionSeal
		case ActionSeal, ActionSealAndNotify:
		default:
			return nil, fmt.Errorf("content rule %q: action %q: want seal or seal_and_notify", r.Name, r.Action)
		}
		if cr.Near <= 0 {
			cr.Near = 40
		}
		switch r.Kind {
		case KindSSN, KindNPI:
			if r.Pattern != "" {
				return nil, fmt.Errorf("content rule %q: a %s rule takes no pattern", r.Name, r.Kind)
			}
		case KindRegex:
			re, err := regexp.Compile(r.Pattern)
			if err != nil || r.Pattern == "" {
				return nil, fmt.Errorf("content rule %q: pattern: %v", r.Name, cmpErr(err, "empty"))
			}
			cr.re = re
		default:
			return nil, fmt.Errorf("content rule %q: kind %q: want ssn, npi or regex", r.Name, r.Kind)
		}
		for _, k := range r.Keywords {
			if k = strings.ToLower(strings.TrimSpace(k)); k != "" {
				cr.keywords = append(cr.keywords, []byte(k))
			}
		}
		c.rules = append(c.rules, cr)
	}
	c.firstNumeric = slices.IndexFunc(c.rules, func(r contentRule) bool { return r.Kind == KindSSN || r.Kind == KindNPI })
	return c, nil
}

func cmpErr(err error, s string) any {
	if err != nil {
		return err
	}
	return s
}

// ContentMatch names the rule that matched, never what it matched.
type ContentMatch struct {
	Rule   string
	Notify bool // seal_and_notify: the sender's confirmation names the rule
}

// Scan reads a message (RFC 5322, header and body) and returns the first rule
// that matches its subject, text bodies or text/* attachments; nil if none, or
// if c is nil. A body that cannot be parsed is scanned as text.
func (c *ContentRules) Scan(subject string, msg []byte) *ContentMatch {
	if c == nil {
		return nil
	}
	budget := c.maxScan
	if m := c.scanText([]byte(DecodeSubject(subject))); m != nil {
		return m
	}
	if body, ok := plainBody(msg); ok {
		// The common case, a plain text message in UTF-8 or ASCII without a
		// transfer encoding, is scanned where it lies, without a copy.
		return c.scanText(body[:min(len(body), int(budget))])
	}
	ent, err := message.Read(bytes.NewReader(msg))
	if err != nil && ent == nil {
		end := headerEnd(msg)
		return c.scanText(msg[end:min(len(msg), end+int(budget))])
	}
	var found *ContentMatch
	var buf bytes.Buffer
	_ = ent.Walk(func(_ []int, e *message.Entity, err error) error {
		if found != nil || budget <= 0 {
			return io.EOF
		}
		t, _, _ := e.Header.ContentType()
		if t == "" {
			t = "text/plain"
		}
		if e.MultipartReader() != nil || !strings.HasPrefix(strings.ToLower(t), "text/") {
			return nil
		}
		buf.Reset()
		n, _ := buf.ReadFrom(io.LimitReader(e.Body, budget))
		budget -= n
		text := buf.Bytes()
		if strings.EqualFold(t, "text/html") {
			text = htmlText(text)
		}
		found = c.scanText(text)
		return nil
	})
	return found
}

// htmlText is an HTML body's text: tags (and scripts and styles) out, entities
// decoded, so that "123-<b>45</b>-6789" is read as the recipient sees it. It
// works in place: b is the caller's buffer.
func htmlText(b []byte) []byte {
	if bytes.IndexByte(b, '<') < 0 && bytes.IndexByte(b, '&') < 0 {
		return b
	}
	out := b[:0]
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '<')
		if j < 0 {
			out = append(out, b[i:]...)
			break
		}
		out = append(out, b[i:i+j]...)
		i += j
		end := bytes.IndexByte(b[i:], '>')
		if end < 0 {
			break // an unclosed tag hides the rest, as in a browser
		}
		tag := b[i+1 : i+end]
		i += end + 1
		for _, skip := range [...]string{"script", "style"} {
			if len(tag) >= len(skip) && bytes.EqualFold(tag[:len(skip)], []byte(skip)) {
				if k := indexFold(b[i:], "</"+skip); k >= 0 {
					i += k
				} else {
					i = len(b)
				}
			}
		}
	}
	if bytes.IndexByte(out, '&') >= 0 {
		return []byte(html.UnescapeString(string(out)))
	}
	return out
}

// indexFold is the index of the first sub (which begins with '<') in b,
// without regard to ASCII case; -1 if none.
func indexFold(b []byte, sub string) int {
	for i := 0; i+len(sub) <= len(b); i++ {
		j := bytes.IndexByte(b[i:], '<')
		if j < 0 {
			return -1
		}
		i += j
		if i+len(sub) <= len(b) && bytes.EqualFold(b[i:i+len(sub)], []byte(sub)) {
			return i
		}
	}
	return -1
}

// plainBody returns a message's body when it can be read as it is: a single
// text/plain part in UTF-8 or ASCII, in 7bit, 8bit or binary.
func plainBody(msg []byte) ([]byte, bool) {
	end := headerEnd(msg)
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg[:end])))
	if err != nil {
		return nil, false
	}
	mh := message.Header{Header: h}
	t, params, err := mh.ContentType()
	if err != nil || (t != "" && !strings.EqualFold(t, "text/plain")) {
		return nil, false
	}
	switch strings.ToLower(params["charset"]) {
	case "", "utf-8", "us-ascii", "utf8":
	default:
		return nil, false
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "", "7bit", "8bit", "binary":
	default:
		return nil, false
	}
	return msg[end:], true
}

func headerEnd(msg []byte) int {
	br := bufio.NewReader(bytes.NewReader(msg))
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		n += len(line)
		if err != nil || len(bytes.TrimRight(line, "\r\n")) == 0 {
			return n
		}
	}
}

// scanText runs every rule over one text.
func (c *ContentRules) scanText(text []byte) *ContentMatch {
	// The number rules share one pass over the text. The earliest of them (in
	// configuration order) that any token matches is the one reported; the
	// pass ends early only when that is the first number rule, which no other
	// can precede.
	numeric := len(c.rules)
	if c.firstNumeric >= 0 {
		digitTokens(text, func(tk *numberToken) bool {
			for i := range numeric {
				if r := &c.rules[i]; (r.Kind == KindSSN || r.Kind == KindNPI) && r.numberMatches(text, tk) {
					numeric = i
					break
				}
			}
			return numeric == c.firstNumeric
		})
	}
	for i := range c.rules {
		r := &c.rules[i]
		hit := false
		switch r.Kind {
		case KindSSN, KindNPI:
			hit = i == numeric
		case KindRegex:
			n := 1 // without keywords the first match decides
			if len(r.keywords) > 0 {
				n = 1000
			}
			for _, loc := range r.re.FindAllIndex(text, n) {
				if r.near(text, loc[0], loc[1], r.keywords) {
					hit = true
					break
				}
			}
		}
		if hit {
			return &ContentMatch{Rule: r.Name, Notify: r.Action == ActionSealAndNotify}
		}
	}
	return nil
}

func (r *contentRule) numberMatches(text []byte, tk *numberToken) bool {
	switch r.Kind {
	case KindSSN:
		if !validSSN(tk.digits) || (tk.dashes != 2 && tk.dashes != 0) {
			return false
		}
		if tk.dashes == 2 && !(text[tk.start+3] == '-' && text[tk.start+6] == '-') {
			return false
		}
		if tk.dashes == 0 && len(r.keywords) == 0 {
			return r.near(text, tk.start, tk.end, bytesList(ssnKeywords))
		}
		return r.near(text, tk.start, tk.end, r.keywords)
	case KindNPI:
		return tk.dashes == 0 && len(tk.digits) == 10 && validNPI(tk.digits) && r.near(text, tk.start, tk.end, r.keywords)
	}
	return false
}

func bytesList(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// near reports whether one of keywords appears within the rule's distance of
// text[start:end]; true when there are no keywords.
func (r *contentRule) near(text []byte, start, end int, keywords [][]byte) bool {
	if len(keywords) == 0 {
		return true
	}
	window := bytes.ToLower(text[max(0, start-r.Near):min(len(text), end+r.Near)])
	for _, k := range keywords {
		if bytes.Contains(window, k) {
			return true
		}
	}
	return false
}

// numberToken is a run of digits and dashes standing alone (not part of a
// word, a decimal, or a longer number).
type numberToken struct {
	start, end int
	digits     []byte // points into buf
	dashes     int
	buf        [10]byte
}

var wordByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-32] = true, true
	}
	t['-'], t['_'] = true, true
	return
}()

// digitTokens calls fn for each 9- and 10-digit token of text, the
// candidates for SSNs ("123-45-6789", "123456789") and NPIs ("1234567893"),
// until fn returns true. A token is a run of digits and dashes standing alone:
// not part of a word, nor of a decimal. Most bytes are looked at once, by the
// first loop, and nothing is allocated.
func digitTokens(text []byte, fn func(*numberToken) bool) bool {
	var tk numberToken
	i, n := 0, len(text)
	for i < n {
		if !isDigit(text[i]) {
			i++
			continue
		}
		start := i
		if start > 0 && wordByte[text[start-1]] {
			// inside a word ("MR1234567", "v2"): skip the rest of it
			for i < n && wordByte[text[i]] {
				i++
			}
			continue
		}
		digits, dashes, other := 0, 0, false
		for i < n && wordByte[text[i]] {
			switch c := text[i]; {
			case isDigit(c):
				if digits < len(tk.buf) {
					tk.buf[digits] = c
				}
				digits++
			case c == '-':
				dashes++
			default:
				other = true
			}
			i++
		}
		end := i
		if other || (digits != 9 && digits != 10) || text[end-1] == '-' {
			continue
		}
		// "12.123456789" and "123456789.5" are decimals, not identifiers.
		if (start > 1 && text[start-1] == '.' && isDigit(text[start-2])) || (end+1 < n && text[end] == '.' && isDigit(text[end+1])) {
			continue
		}
		tk.start, tk.end, tk.dashes = start, end, dashes
		tk.digits = tk.buf[:digits]
		if fn(&tk) {
			return true
		}
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// validSSN checks the ranges the Social Security Administration never
// assigns: area 000, 666 and 900–999, group 00, serial 0000.
func validSSN(d []byte) bool {
	if len(d) != 9 {
		return false
	}
	area := string(d[:3])
	return area != "000" && area != "666" && d[0] != '9' && string(d[3:5]) != "00" && string(d[5:]) != "0000"
}

// validNPI checks an NPI: 10 digits, the first 1 or 2, the last a Luhn check
// digit computed over the card issuer prefix 80840 and the first nine.
func validNPI(d []byte) bool {
	if len(d) != 10 || (d[0] != '1' && d[0] != '2') {
		return false
	}
	// Luhn over "80840" + d: from the right, double every second digit.
	sum := 0
	all := append([]byte("80840"), d...)
	for i := len(all) - 1; i >= 0; i-- {
		v := int(all[i] - '0')
		if (len(all)-1-i)%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}
