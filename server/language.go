package server

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/locale"
)

// What the gateway writes to a recipient (the wrapper mail, securedoc.html)
// speaks the recipient's saved language, which the key server tells
// (LanguageLookup), else the organisation's default language; notices to
// senders speak the default. Times are written in the organisation's time zone
// with the zone shown, as the catalog's date.time says.

// say is the catalog's message id in the organisation's language.
func (g *Gateway) say(id string, args ...any) string { return g.cfg.Language.T(id, args...) }

// date writes t in the organisation's language and time zone.
func (g *Gateway) date(t time.Time) string { return g.cfg.Language.Date(t.In(g.cfg.TimeZone)) }

// locale is the offered language of code (a saved language), else the
// organisation's default.
func (g *Gateway) locale(code string) *locale.Locale {
	if l := g.cfg.Locales.Get(g.cfg.Locales.Supported(code)); code != "" && l != nil {
		return l
	}
	return g.cfg.Language
}

// securedocWords are securedoc.html's sentences in l.
func (g *Gateway) securedocWords(l *locale.Locale) *envelope.Words {
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
		Date:     func(t time.Time) string { return l.Date(t.In(g.cfg.TimeZone)) },
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
