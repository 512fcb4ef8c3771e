package message

import (
	"bytes"
	"strings"
)

// splitMultipart cuts a multipart body into its parts (each still with its
// header), reading at most max parts. found is false when no boundary line
// appears at all; closed is false when the final boundary is missing, in which
// case the last part runs to the end of the body. The preamble and epilogue are
// dropped. A boundary line may carry trailing whitespace but nothing else, so a
// boundary that is a prefix of a nested one is not confused with it.
func splitMultipart(body []byte, boundary string, max int) (parts [][]byte, found, closed bool) {
	delim := []byte("--" + boundary)
	_, end, last, ok := nextDelimiter(body, 0, delim)
	if !ok {
		return nil, false, false
	}
	for !last {
		if len(parts) >= max {
			return parts, true, true // the caller reports the parts it cannot show
		}
		start := end
		ls, le, l, ok := nextDelimiter(body, start, delim)
		if !ok {
			return append(parts, body[start:]), true, false
		}
		// the line break before a boundary line belongs to the boundary
		e := ls
		if e > start && body[e-1] == '\n' {
			e--
			if e > start && body[e-1] == '\r' {
				e--
			}
		}
		parts = append(parts, body[start:e])
		end, last = le, l
	}
	return parts, true, true
}

// nextDelimiter finds the next boundary line at or after from, which is 0 or
// the start of a line. It returns where the line starts, where the next line
// starts, and whether it is the close delimiter ("--boundary--").
func nextDelimiter(body []byte, from int, delim []byte) (start, next int, last, ok bool) {
	// Search for the line break before the boundary: a boundary has no line
	// break, so matches cannot overlap and the search stays linear.
	nl := make([]byte, 0, len(delim)+1)
	nl = append(append(nl, '\n'), delim...)
	for from <= len(body) {
		var j int
		if from == 0 && bytes.HasPrefix(body, delim) {
			j = 0
		} else {
			s := max(from-1, 0)
			i := bytes.Index(body[s:], nl)
			if i < 0 {
				return 0, 0, false, false
			}
			j = s + i + 1
		}
		k := j + len(delim)
		last := k+1 < len(body) && body[k] == '-' && body[k+1] == '-'
		if last {
			k += 2
		}
		if k < len(body) && !isBchar(body[k]) && body[k] != '\r' && body[k] != '\n' && body[k] != '\t' {
			// Other characters after the boundary ("--b--> x"): a boundary line
			// need only start with the boundary (RFC 2046, section 5.1.1), and
			// one that no boundary character follows cannot be a longer,
			// nested boundary either.
			if e := bytes.IndexByte(body[k:], '\n'); e >= 0 {
				return j, k + e + 1, last, true
			}
			return j, len(body), last, true
		}
		for k < len(body) && (body[k] == ' ' || body[k] == '\t' || body[k] == '\r') {
			k++
		}
		if k == len(body) {
			return j, k, last, true
		}
		if body[k] == '\n' {
			return j, k + 1, last, true
		}
		from = j + 1
	}
	return 0, 0, false, false
}

// isBchar reports whether c may appear in a boundary (RFC 2046, section 5.1.1:
// bchars, the space included).
func isBchar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
		strings.IndexByte("'()+_,-./:=? ", c) >= 0
}
