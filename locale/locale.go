// Package locale holds the message catalogs of everything a person reads: the
// key server's pages, the strings their scripts show, securedoc.html and every
// mail. Catalogs are TOML files named LANG.toml or AREA.LANG.toml (catalog/en.toml,
// mail.es.toml, errors.de.toml: one language may be split over several files, its
// code the last dot-separated part before .toml), embedded in the binary; an
// organisation adds a language or overrides some of a shipped one's messages with
// files named the same way in data_dir/locales, read at start-up (no rebuild). Plural forms follow the CLDR
// rules of github.com/nicksnyder/go-i18n.
package locale

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

//go:embed catalog/*.toml
var shipped embed.FS

// maxMade bounds a Locale's cache of templated messages.
const maxMade = 4096

// Default is the language of last resort: every key exists in it.
const Default = "en"

// Catalogs is the loaded set of languages. It does not change after Load.
type Catalogs struct {
	bundle  *i18n.Bundle
	tags    []language.Tag // offered languages, the default first
	matcher language.Matcher
	locales map[string]*Locale
	def     *Locale
}

// Locale speaks one language.
type Locale struct {
	tag   language.Tag
	code  string
	name  string // the language's own name, for the switcher
	loc   *i18n.Localizer
	base  *i18n.Localizer   // English, for what an added language lacks
	plain map[string]string // messages without template or plural, resolved once
	made  sync.Map          // templated messages already said, by id and arguments
	nmade atomic.Int64      // how many made holds
}

// Shipped reports the message ids of each shipped catalog, by language code
// (for the completeness test).
func Shipped() (map[string][]string, error) {
	out := map[string][]string{}
	b := newBundle()
	entries, err := fs.Glob(shipped, "catalog/*.toml")
	if err != nil {
		return nil, err
	}
	for _, p := range entries {
		data, err := shipped.ReadFile(p)
		if err != nil {
			return nil, err
		}
		mf, err := b.ParseMessageFileBytes(data, path(p))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		code := LanguageOf(p)
		for _, m := range mf.Messages {
			out[code] = append(out[code], m.ID)
		}
	}
	for code := range out {
		sort.Strings(out[code])
	}
	return out, nil
}

// LanguageOf is the language code of a catalog file: the last dot-separated
// part of its name before ".toml" ("mail.es.toml" and "es.toml" are both "es"),
// as go-i18n reads it.
func LanguageOf(p string) string {
	name := strings.TrimSuffix(filepath.Base(p), ".toml")
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	return name
}

func path(p string) string { return filepath.Base(p) }

func newBundle() *i18n.Bundle {
	b := i18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	return b
}

// Load reads the shipped catalogs, then every LANG.toml and AREA.LANG.toml in
// overrideDir (may be "" or missing), whose messages replace or add to those
// of language LANG (files in name order; a later one wins).
func Load(overrideDir string) (*Catalogs, error) {
	b := newBundle()
	entries, _ := fs.Glob(shipped, "catalog/*.toml")
	for _, p := range entries {
		data, err := shipped.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if _, err := b.ParseMessageFileBytes(data, path(p)); err != nil {
			return nil, fmt.Errorf("catalog %s: %w", p, err)
		}
	}
	if overrideDir != "" {
		files, err := filepath.Glob(filepath.Join(overrideDir, "*.toml"))
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("locales: %w", err)
			}
			if _, err := b.ParseMessageFileBytes(data, filepath.Base(f)); err != nil {
				return nil, fmt.Errorf("locales: %s: %w", f, err)
			}
		}
	}
	c := &Catalogs{bundle: b, locales: map[string]*Locale{}}
	tags := b.LanguageTags()
	sort.Slice(tags, func(i, j int) bool {
		if (tags[i] == language.English) != (tags[j] == language.English) {
			return tags[i] == language.English
		}
		return tags[i].String() < tags[j].String()
	})
	c.tags = tags
	c.matcher = language.NewMatcher(tags)
	ids := map[string]bool{}
	for _, msgs := range shippedIDs(b) {
		for _, id := range msgs {
			ids[id] = true
		}
	}
	for _, t := range tags {
		l := &Locale{tag: t, code: t.String(), loc: i18n.NewLocalizer(b, t.String()), base: i18n.NewLocalizer(b, Default), plain: map[string]string{}}
		for id := range ids {
			s, err := l.loc.Localize(&i18n.LocalizeConfig{MessageID: id})
			if err != nil {
				s, err = l.base.Localize(&i18n.LocalizeConfig{MessageID: id})
			}
			if err == nil && !strings.Contains(s, "{{") {
				l.plain[id] = s
			}
		}
		l.name = l.T("language.name")
		c.locales[l.code] = l
	}
	c.def = c.locales[Default]
	if c.def == nil {
		return nil, fmt.Errorf("locale: no %q catalog", Default)
	}
	return c, nil
}

// shippedIDs lists the ids of the shipped catalogs.
func shippedIDs(*i18n.Bundle) map[string][]string {
	ids, _ := Shipped()
	return ids
}

var english struct {
	once sync.Once
	l    *Locale
}

// English is the shipped English catalog, without an organisation's
// overrides: for sentences made before any configuration is read (a refusal's
// Message, which logs and Go callers see; people get theirs in their language).
func English() *Locale {
	english.once.Do(func() {
		c, err := Load("")
		if err != nil {
			panic("locale: the shipped catalogs do not load: " + err.Error())
		}
		english.l = c.Default()
	})
	return english.l
}

// Languages are the offered languages, the default first.
func (c *Catalogs) Languages() []*Locale {
	out := make([]*Locale, 0, len(c.tags))
	for _, t := range c.tags {
		out = append(out, c.locales[t.String()])
	}
	return out
}

// Get returns the locale of code, or nil when it is not offered.
func (c *Catalogs) Get(code string) *Locale {
	return c.locales[code]
}

// Default returns the English locale.
func (c *Catalogs) Default() *Locale { return c.def }

// Supported returns the offered language code that best matches code
// (a BCP 47 tag, e.g. "es-MX" gives "es"), or "".
func (c *Catalogs) Supported(code string) string {
	t, err := language.Parse(code)
	if err != nil {
		return ""
	}
	if l := c.locales[t.String()]; l != nil {
		return l.code
	}
	_, i, conf := c.matcher.Match(t)
	if conf < language.High {
		return ""
	}
	return c.tags[i].String()
}

// FromAcceptLanguage returns the offered language code an Accept-Language
// header asks for, or "" when it asks for none of them.
func (c *Catalogs) FromAcceptLanguage(header string) string {
	tags, _, err := language.ParseAcceptLanguage(header)
	if err != nil || len(tags) == 0 {
		return ""
	}
	for _, t := range tags {
		if code := c.Supported(t.String()); code != "" {
			return code
		}
	}
	return ""
}

// Code is the language's BCP 47 code ("es"), for lang="" and Content-Language.
func (l *Locale) Code() string { return l.code }

// Name is the language's name in itself ("Español").
func (l *Locale) Name() string { return l.name }

// T returns the message id. Args, when given, are name/value pairs for the
// message's template ({{.Name}}); an int argument called "Count" also chooses
// the plural form. A missing id returns the id itself, which the completeness
// test catches.
func (l *Locale) T(id string, args ...any) string {
	if len(args) == 0 {
		if s, ok := l.plain[id]; ok {
			return s
		}
	}
	key := fmt.Sprint(id, args)
	if s, ok := l.made.Load(key); ok {
		return s.(string)
	}
	s := l.localize(id, args)
	// Bounded: mail says subjects and dates, which never repeat, and must
	// not grow the cache for ever; pages' few arguments fill it long before.
	if l.nmade.Load() < maxMade {
		l.nmade.Add(1)
		l.made.Store(key, s)
	}
	return s
}

// localize says id with args through the library (plural form, template).
func (l *Locale) localize(id string, args []any) string {
	data := map[string]any{}
	for i := 0; i+1 < len(args); i += 2 {
		k, _ := args[i].(string)
		data[k] = args[i+1]
	}
	lc := &i18n.LocalizeConfig{MessageID: id, TemplateData: data}
	if n, ok := data["Count"]; ok {
		lc.PluralCount = n
	}
	s, err := l.loc.Localize(lc)
	if err != nil {
		if s, err = l.base.Localize(lc); err != nil {
			return id
		}
	}
	return s
}

// Strings returns the messages whose ids start with prefix, keyed by the rest
// of the id: what a page's script may show, handed to it in the page.
func (l *Locale) Strings(prefix string) map[string]string {
	out := map[string]string{}
	for id, s := range l.plain {
		if rest, ok := strings.CutPrefix(id, prefix); ok {
			out[rest] = s
		}
	}
	return out
}

// Date writes t as "4 December 2026, 15:04 UTC" in the language (day, month in
// words, year, 24-hour time and the zone's abbreviation), in t's location.
func (l *Locale) Date(t time.Time) string {
	zone, _ := t.Zone()
	return l.T("date.time", "Day", t.Day(), "Month", l.T(fmt.Sprintf("month.%d", int(t.Month()))), "Year", t.Year(), "Time", t.Format("15:04"), "Zone", zone)
}
