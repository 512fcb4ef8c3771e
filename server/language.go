package server

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/waxseal/waxseal/envelope"
)

// What the gateway writes to people (notices, wrapper mails, securedoc.html)
// speaks the organisation's default language from the message catalogs: the
// gateway has no recipient's preference to go by. Times are written in the
// organisation's time zone with the zone shown, as the catalog's date.time
// says.

// say is the catalog's message id in the organisation's language.
func (g *Gateway) say(id string, args ...any) string { return g.cfg.Language.T(id, args...) }

// date writes t in the organisation's language and time zone.
func (g *Gateway) date(t time.Time) string { return g.cfg.Language.Date(t.In(g.cfg.TimeZone)) }

// securedocWords are securedoc.html's sentences in the organisation's language.
func (g *Gateway) securedocWords() *envelope.Words {
	l := g.cfg.Language
	return &envelope.Words{
		Lang:     l.Code(),
		Title:    l.T("securedoc.title", "From", "{from}"),
		Heading:  l.T("securedoc.heading"),
		From:     l.T("securedoc.from"),
		To:       l.T("securedoc.to"),
		Sent:     l.T("securedoc.sent"),
		Subject:  l.T("securedoc.subject"),
		Expires:  l.T("securedoc.expires"),
		Open:     l.T("securedoc.open"),
		How:      l.T("securedoc.how", "Open", "{open}", "Host", "{host}"),
		Password: l.T("securedoc.password", "URL", "{keyserver}"),
		Phone:    l.T("securedoc.phone"),
		ID:       l.T("securedoc.id", "ID", "{id}"),
		HelpDesk: l.T("brand.help_desk"),
		Privacy:  l.T("brand.privacy"),
		Date:     g.date,
	}
}

// labelled writes "Label:  value" lines with the values lined up, whatever
// the labels' lengths in the language.
func labelled(b *strings.Builder, rows [][2]string) {
	width := 0
	for _, r := range rows {
		width = max(width, utf8.RuneCountInString(r[0]))
	}
	for _, r := range rows {
		fmt.Fprintf(b, "%s:%s%s\n", r[0], strings.Repeat(" ", width-utf8.RuneCountInString(r[0])+2), r[1])
	}
}
