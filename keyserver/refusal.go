package keyserver

import (
	"strings"
	"time"

	"github.com/waxseal/waxseal/locale"
)

// A refusal with its own sentence (Error.With) names a catalog message
// (locale/catalog/errors.LANG.toml) and its arguments, so that the person in
// front of the request reads it in their language; Message holds the English,
// for logs and Go callers. The JSON error code does not change.

// Msg is a catalog message: its id and its arguments, name/value pairs for the
// message's {{.Name}} slots. An argument may itself be a Msg, a list of them
// (said one after another, joined by "; ") or a time.Duration (said in words).
type Msg struct {
	ID   string
	Args []any
}

// With returns a copy of e that says the catalog message id with args
// (name/value pairs) instead of its code's general sentence.
func (e *Error) With(id string, args ...any) *Error {
	c := *e
	c.say = &Msg{ID: id, Args: args}
	c.Message = c.Text(locale.English())
	return &c
}

// WithMsg is With for a message made elsewhere (a password's weaknesses).
func (e *Error) WithMsg(m Msg) *Error { return e.With(m.ID, m.Args...) }

// Text is e's sentence in l: its own message when With gave it one, else its
// code's (error.CODE), else Message as it is (a refusal made outside the
// catalog, such as an HTTP framework error's).
func (e *Error) Text(l *locale.Locale) string {
	if e.say != nil {
		return e.say.In(l)
	}
	if key := e.MessageKey(); key != "" {
		return l.T(key)
	}
	return e.Message
}

// Said is the catalog message With gave e, or nil.
func (e *Error) Said() *Msg { return e.say }

// In says m in l.
func (m Msg) In(l *locale.Locale) string {
	args := make([]any, len(m.Args))
	for i, a := range m.Args {
		switch v := a.(type) {
		case Msg:
			args[i] = v.In(l)
		case []Msg:
			parts := make([]string, len(v))
			for j, p := range v {
				parts[j] = p.In(l)
			}
			args[i] = strings.Join(parts, "; ")
		case time.Duration:
			args[i] = waitWords(l, v)
		default:
			args[i] = a
		}
	}
	return l.T(m.ID, args...)
}

// waitWords says a wait: whole minutes (rounded up) from a minute on, seconds
// below, so that nobody reads "14m59s".
func waitWords(l *locale.Locale, d time.Duration) string {
	if d >= time.Minute {
		d = (d + time.Minute - 1).Truncate(time.Minute)
	} else {
		d = max(d.Round(time.Second), time.Second)
	}
	return Duration(l, d)
}
