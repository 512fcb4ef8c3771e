package envelope

import (
	"strings"
	"time"
)

// Words are the visible sentences of securedoc.html in one language. The
// writer's side fills them from its message catalog (package locale, which the
// decryptor must not link, so they arrive here as plain strings); nil keeps
// the English the format's vectors were written with, byte for byte.
//
// Each is plain text, escaped by the page. Title, How, Password and ID may
// name the slots {from}, {host}, {keyserver} and {id}, which the page fills
// with the envelope's values; How may write {open}, the Open button's word in
// bold, where it tells the reader to select it.
type Words struct {
	Lang     string // BCP 47 code for <html lang>
	Title    string // "Secure message from {from}"
	Heading  string
	From     string
	To       string
	Sent     string
	Subject  string
	Expires  string
	Open     string // the button
	How      string
	Password string
	Phone    string // what to do on a phone or in webmail
	ID       string // "Message id: {id}"
	HelpDesk string
	Privacy  string
	// Date writes the sent and expiry times; nil writes DateLayout in UTC.
	Date func(time.Time) string
}

// english are the words of an unlocalised page, as the page has always
// written them (the line breaks are part of the pinned bytes).
var english = Words{
	Lang:    "en",
	Title:   "Secure message from {from}",
	Heading: "You have received a secure message",
	From:    "From", To: "To", Sent: "Sent", Subject: "Subject", Expires: "Expires", Open: "Open",
	How: "The message is encrypted. {open} takes you to\n{host}, where you sign in (or register, the first time) and\n" +
		"the message is decrypted in your browser.",
	Password: "This file never asks for your password. Enter it only on a\npage whose address begins with {keyserver}.",
	Phone: "On a phone or in webmail, if this attachment does not open:\nsave it and open it in a web browser, or use the open online link in the email\n" +
		"that brought it.",
	ID:       "Message id: {id}",
	HelpDesk: wordHelpDesk,
	Privacy:  wordPrivacy,
}

// say escapes a sentence of w for the page: the shipped English keeps its own
// line breaks, a catalog's sentence is broken near 72 characters (the file's
// lines must stay short for 7bit mail). Slots are filled after escaping, with
// values escaped on their own.
func (w *Words) say(s string, slots *strings.Replacer) string {
	var out string
	if w == &english {
		lines := strings.Split(s, "\n")
		for i, l := range lines {
			lines[i] = asciiHTML(l, 0)
		}
		out = strings.Join(lines, crlf)
	} else {
		out = asciiHTML(s, 72)
	}
	if slots != nil {
		out = slots.Replace(out)
	}
	return out
}

// or is w's word, or the English one where w leaves it empty.
func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// filled returns w with English for what it lacks (w nil: the English words).
func (w *Words) filled() *Words {
	if w == nil {
		return &english
	}
	c := *w
	e := &english
	c.Lang, c.Title, c.Heading = or(c.Lang, e.Lang), or(c.Title, e.Title), or(c.Heading, e.Heading)
	c.From, c.To, c.Sent, c.Subject = or(c.From, e.From), or(c.To, e.To), or(c.Sent, e.Sent), or(c.Subject, e.Subject)
	c.Expires, c.Open, c.How, c.Password = or(c.Expires, e.Expires), or(c.Open, e.Open), or(c.How, e.How), or(c.Password, e.Password)
	c.Phone, c.ID, c.HelpDesk, c.Privacy = or(c.Phone, e.Phone), or(c.ID, e.ID), or(c.HelpDesk, e.HelpDesk), or(c.Privacy, e.Privacy)
	return &c
}

// date writes t as w says times.
func (w *Words) date(t time.Time) string {
	if w.Date == nil {
		return t.UTC().Format(DateLayout)
	}
	return asciiHTML(w.Date(t), 0)
}
