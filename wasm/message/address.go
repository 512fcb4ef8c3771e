package message

import (
	"bytes"
	"strings"
)

// parseAddressList reads an RFC 5322 address list leniently. Group names are
// dropped and their members kept; a mailbox that cannot be read becomes an
// Address whose Name is its decoded text. Every unquoted comma separates
// mailboxes: "foo, Bar <bar@example.org>" is two, as a reader of the header
// sees them. An unquoted comma in a display name ("Doe, John <j@example.com>")
// cannot be told from that, and is shown the same way once the list is joined
// with commas again.
func (p *parser) parseAddressList(v string) []Address {
	var out []Address
	for _, c := range splitAddresses(v) {
		if strings.TrimSpace(c) == "" {
			continue
		}
		out = append(out, p.parseMailbox(c))
	}
	return out
}

// splitAddresses splits an address list at the commas and semicolons outside
// quotes, comments and angle brackets, and drops group names ("team: ...;").
func splitAddresses(v string) []string {
	var out []string
	start, comment := 0, 0
	inQuote, inAngle := false, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case inQuote:
			if c == '\\' {
				i++
			} else if c == '"' {
				inQuote = false
			}
		case comment > 0:
			if c == '\\' {
				i++
			} else if c == '(' {
				comment++
			} else if c == ')' {
				comment--
			}
		case inAngle:
			if c == '>' {
				inAngle = false
			} else if c == '"' {
				inQuote = true
			}
		case c == '"':
			inQuote = true
		case c == '(':
			comment = 1
		case c == '<':
			inAngle = true
		case c == ',' || c == ';':
			out = append(out, v[start:i])
			start = i + 1
		case c == ':':
			start = i + 1
		}
	}
	if start < len(v) {
		out = append(out, v[start:])
	}
	return out
}

// token is a lexical element of a mailbox.
type token struct {
	kind  byte   // 'a' atom, 'q' quoted string, 'c' comment, '<' angle address
	text  string // unescaped content
	raw   string
	space bool // preceded by whitespace
}

func tokenize(s string) []token {
	var toks []token
	space := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			space = true
			i++
			continue
		case c == '"':
			var sb strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				sb.WriteByte(s[j])
			}
			if j < len(s) {
				j++
			}
			toks = append(toks, token{'q', sb.String(), s[i:j], space})
			i = j
		case c == '(':
			var sb strings.Builder
			depth, j := 1, i+1
			for ; j < len(s); j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				} else if s[j] == '(' {
					depth++
				} else if s[j] == ')' {
					depth--
					if depth == 0 {
						break
					}
				}
				sb.WriteByte(s[j])
			}
			if j < len(s) {
				j++
			}
			toks = append(toks, token{'c', sb.String(), s[i:j], space})
			i = j
		case c == '<':
			j, inQuote := i+1, false
			for ; j < len(s); j++ {
				if s[j] == '"' {
					inQuote = !inQuote
				} else if s[j] == '>' && !inQuote {
					break
				}
			}
			end := j
			if j < len(s) {
				j++
			}
			toks = append(toks, token{'<', s[i+1 : end], s[i:j], space})
			i = j
		default:
			j := i
			for j < len(s) && strings.IndexByte(" \t\r\n\"(<", s[j]) < 0 {
				j++
			}
			toks = append(toks, token{'a', s[i:j], s[i:j], space})
			i = j
		}
		space = false
	}
	return toks
}

// parseMailbox reads one mailbox: "Name <addr>", "addr (Name)", "addr", or,
// failing that, keeps the text as the Name.
func (p *parser) parseMailbox(s string) Address {
	toks := tokenize(s)
	var name strings.Builder
	addWord := func(t token) {
		if name.Len() > 0 && t.space {
			name.WriteByte(' ')
		}
		name.WriteString(t.text)
	}
	comment := ""
	for i, t := range toks {
		if t.kind == 'c' && comment == "" {
			comment = strings.TrimSpace(t.text)
		}
		if t.kind != '<' {
			continue
		}
		email := cleanAddrSpec(t.text)
		if email != "" && !validEmail(email) {
			break
		}
		for _, w := range toks[:i] {
			if w.kind == 'a' || w.kind == 'q' {
				addWord(w)
			}
		}
		n := strings.TrimSpace(name.String())
		if n == "" {
			for _, w := range toks[i+1:] {
				if w.kind == 'c' && comment == "" {
					comment = strings.TrimSpace(w.text)
				}
			}
			n = comment
		}
		return Address{Name: p.decodeWords(n), Email: email}
	}

	// No angle address: the last word is the address, words before it (or a
	// comment) the name. Adjacent tokens form one word ("a"@b.example).
	type word struct{ raw, text []byte }
	var words []word
	for _, t := range toks {
		switch t.kind {
		case 'a', 'q':
			if len(words) > 0 && !t.space {
				w := &words[len(words)-1]
				w.raw = append(w.raw, t.raw...)
				w.text = append(w.text, t.text...)
			} else {
				words = append(words, word{[]byte(t.raw), []byte(t.text)})
			}
		case '<':
			words = nil // an unreadable angle address
		}
	}
	// Blanks around the "@" (obsolete syntax, RFC 5322 section 4.4) do not split
	// the address: "john @ example.org".
	joined := words[:0]
	for _, w := range words {
		if k := len(joined) - 1; k >= 0 && (bytes.HasPrefix(w.raw, []byte("@")) || bytes.HasSuffix(joined[k].raw, []byte("@"))) {
			joined[k].raw = append(joined[k].raw, w.raw...)
			joined[k].text = append(joined[k].text, w.text...)
			continue
		}
		joined = append(joined, w)
	}
	words = joined
	if n := len(words); n > 0 && validEmail(string(words[n-1].raw)) {
		for _, w := range words[:n-1] {
			if name.Len() > 0 {
				name.WriteByte(' ')
			}
			name.Write(w.text)
		}
		nm := strings.TrimSpace(name.String())
		if nm == "" {
			nm = comment
		}
		return Address{Name: p.decodeWords(nm), Email: string(words[n-1].raw)}
	}
	return Address{Name: p.decodeWords(strings.Join(fields(s), " "))}
}

// cleanAddrSpec removes comments, whitespace outside quotes, a "mailto:" prefix
// and an obsolete source route from the inside of an angle address.
func cleanAddrSpec(s string) string {
	var sb strings.Builder
	inQuote, comment := false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote:
			sb.WriteByte(c)
			if c == '\\' && i+1 < len(s) {
				i++
				sb.WriteByte(s[i])
			} else if c == '"' {
				inQuote = false
			}
		case comment > 0:
			if c == '(' {
				comment++
			} else if c == ')' {
				comment--
			}
		case c == '(':
			comment = 1
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
		default:
			if c == '"' {
				inQuote = true
			}
			sb.WriteByte(c)
		}
	}
	out := sb.String()
	if len(out) > 7 && lower(out[:7]) == "mailto:" {
		out = out[7:]
	}
	if strings.HasPrefix(out, "@") {
		if i := strings.IndexByte(out, ':'); i >= 0 {
			out = out[i+1:]
		}
	}
	return out
}

// validEmail reports whether s looks like local@domain.
func validEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	for i := 0; i < len(domain); i++ {
		if c := domain[i]; c <= ' ' || c == 0x7f || strings.IndexByte(`"<>(),;:\@`, c) >= 0 {
			return false
		}
	}
	if strings.HasPrefix(local, `"`) && strings.HasSuffix(local, `"`) && len(local) >= 2 {
		return true
	}
	for i := 0; i < len(local); i++ {
		if c := local[i]; c <= ' ' || c == 0x7f || strings.IndexByte(`"<>(),;:\@[]`, c) >= 0 {
			return false
		}
	}
	return true
}
