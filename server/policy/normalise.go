package policy

import (
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode"

	"github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/unicode/norm"
)

// normalise is the text the rules are matched on: compatibility forms folded
// (NFKC: fullwidth letters, ligatures, the various spaces), format characters
// (zero-width spaces and joiners, direction marks, the byte-order mark, the soft
// hyphen) and control characters removed, every kind of white space a single
// blank, no blanks at either end. Removing rather than blanking what cannot be
// seen is what keeps "P<U+200B>HI:" and "PHI<NUL>:" triggering.
func normalise(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	clean := func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f' || r == 0x85:
			return ' '
		case unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Cc, r):
			return -1
		case unicode.Is(unicode.Z, r) || unicode.IsSpace(r):
			return ' '
		}
		return r
	}
	s = strings.Map(clean, norm.NFKC.String(strings.Map(clean, s)))
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' }), " ")
}

// charsetReader reads an encoded word's text in any charset the platform's
// libraries know: the WHATWG encodings (golang.org/x/text/encoding/htmlindex),
// then go-message's. An RFC 2231 language suffix ("us-ascii*en") is dropped.
func charsetReader(cs string, input io.Reader) (io.Reader, error) {
	if i := strings.IndexByte(cs, '*'); i >= 0 {
		cs = cs[:i]
	}
	switch strings.ToLower(strings.TrimSpace(cs)) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return input, nil
	}
	if e, err := htmlindex.Get(cs); err == nil {
		return e.NewDecoder().Reader(input), nil
	}
	if r, err := charset.Reader(cs, input); err == nil {
		return r, nil
	}
	return nil, fmt.Errorf("unknown charset %q", cs)
}

var (
	wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}
	// rawDecoder reads an encoded word in a charset nobody knows as its bytes:
	// most charsets write ASCII as ASCII, and a trigger in it must still count.
	rawDecoder = &mime.WordDecoder{CharsetReader: func(cs string, input io.Reader) (io.Reader, error) {
		if r, err := charsetReader(cs, input); err == nil {
			return r, nil
		}
		return input, nil
	}}
)

func unfold(raw string) string {
	return strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(raw)
}

// readings are the ways a raw Subject header can be read: decoded (when every
// encoded word could be), decoded with undecodable words read as their bytes,
// and as written. A subject triggers if any of them does, so that a charset the
// gateway cannot read never makes a triggered message plain.
func readings(raw string) []string {
	raw = unfold(raw)
	var out []string
	add := func(s string) {
		s = strings.ToValidUTF8(s, "\uFFFD")
		for _, o := range out {
			if o == s {
				return
			}
		}
		out = append(out, s)
	}
	if dec, err := wordDecoder.DecodeHeader(raw); err == nil {
		add(dec)
	}
	if dec, err := rawDecoder.DecodeHeader(raw); err == nil {
		add(dec)
	}
	add(raw)
	return out
}

// DecodeSubject turns a raw Subject header value into the text people read:
// unfolded, RFC 2047 encoded words decoded (in any charset the platform knows; a
// word in one it does not know is read as its bytes), control characters
// replaced by spaces.
func DecodeSubject(raw string) string {
	dec := readings(raw)[0]
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.TrimSpace(dec))
}

// HasControl reports whether a header value (as written, folding allowed) holds
// NUL or another control character, raw or in an encoded word: such a header is
// refused, not cleaned, since what the gateway checks and what a client shows
// could differ.
func HasControl(raw string) bool {
	if !strings.Contains(raw, "=?") {
		// No encoded word: the raw text is the only reading.
		return hasControlByte(raw)
	}
	for _, s := range readings(raw) {
		if hasControlByte(s) {
			return true
		}
	}
	return false
}

// hasControlByte reports a C0 control other than tab, CR and LF, or DEL.
func hasControlByte(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f {
			return true
		}
	}
	return false
}

// WordDecoder decodes RFC 2047 encoded words in any charset the platform
// knows, and a word in one it does not know as its bytes: for display names,
// which are shown decoded everywhere (never "=?utf-8?b?...?=").
func WordDecoder() *mime.WordDecoder { return rawDecoder }
