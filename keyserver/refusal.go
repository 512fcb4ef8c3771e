package keyserver

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/waxseal/waxseal/internal/address"
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

// addressRefusals are the sentences for an address a person typed, by the
// rule it broke.
var addressRefusals = map[address.Reason]string{
	address.NotUTF8:        "refusal.address_not_utf8",
	address.Syntax:         "refusal.address_syntax",
	address.NoDomain:       "refusal.address_no_domain",
	address.DomainDot:      "refusal.address_domain_dot",
	address.DomainEmpty:    "refusal.address_domain_empty",
	address.EmptyLabel:     "refusal.address_empty_label",
	address.LocalEmpty:     "refusal.address_local_empty",
	address.NotNFC:         "refusal.address_not_nfc",
	address.ASCIILookalike: "refusal.address_lookalike",
	address.MixedScripts:   "refusal.address_mixed_scripts",
}

// addressRefusal refuses an address a person typed (a search, a bulk action,
// an invite) in the reader's language, saying what is wrong with it rather
// than the parser's English.
func addressRefusal(err error) *Error {
	var e *address.Error
	if errors.As(err, &e) && addressRefusals[e.Reason] != "" {
		return ErrBadRequest.With(addressRefusals[e.Reason], "Address", e.Input, "Char", fmt.Sprintf("%U", e.Char), "Letter", string(unicode.ToLower(e.Char)))
	}
	return ErrBadRequest.With("refusal.detail", "Detail", err)
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
