// Package detail adds context to errors without package fmt, which would add about
// 170 KB to the browser decryptor. Errors read as fmt's "%w: detail" would.
package detail

import "strconv"

type wrapped struct {
	err    error
	detail string
}

func (w *wrapped) Error() string { return w.err.Error() + ": " + w.detail }
func (w *wrapped) Unwrap() error { return w.err }

// Wrap returns err followed by ": " and the details, joined; errors.Is(result, err)
// holds.
func Wrap(err error, details ...string) error {
	n := 0
	for _, d := range details {
		n += len(d)
	}
	b := make([]byte, 0, n)
	for _, d := range details {
		b = append(b, d...)
	}
	return &wrapped{err: err, detail: string(b)}
}

// Int formats n in decimal.
func Int[T ~int | ~int64 | ~uint32 | ~uint64](n T) string { return strconv.FormatInt(int64(n), 10) }

// Quote quotes s as Go would (%q), cut to at most max bytes first so that hostile
// input cannot make an error message huge.
func Quote(s string, max int) string {
	if len(s) > max {
		s = s[:max]
	}
	return strconv.Quote(s)
}

type prefixed struct {
	context string
	err     error
}

func (p *prefixed) Error() string { return p.context + ": " + p.err.Error() }
func (p *prefixed) Unwrap() error { return p.err }

// Prefix returns context, ": " and err, as fmt.Errorf("context: %w", err) would.
func Prefix(context string, err error) error { return &prefixed{context: context, err: err} }
