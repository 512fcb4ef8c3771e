package keyserver_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"maps"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
	"github.com/waxseal/waxseal/keyserver/client"
	"github.com/waxseal/waxseal/locale"
)

var (
	scriptStyleRE = regexp.MustCompile(`(?s)<(script|style)\b.*?</(script|style)>`)
	tagRE         = regexp.MustCompile(`(?s)<[^>]*>`)
	attrTextRE    = regexp.MustCompile(`\b(?:aria-label|title|alt|placeholder)="([^"]*)"`)
	letterRE      = regexp.MustCompile(`\pL`)
)

// pageTexts are the texts a person reads on a page: text between tags and
// the attributes that are read out (aria-label, title, alt, placeholder).
func pageTexts(page string) []string {
	page = scriptStyleRE.ReplaceAllString(page, " ")
	var out []string
	for _, m := range attrTextRE.FindAllStringSubmatch(page, -1) {
		if letterRE.MatchString(m[1]) {
			out = append(out, html.UnescapeString(m[1]))
		}
	}
	for _, s := range tagRE.Split(page, -1) {
		s = strings.Join(strings.Fields(html.UnescapeString(s)), " ")
		if letterRE.MatchString(s) {
			out = append(out, s)
		}
	}
	return out
}

// catalogMatchers match the texts a locale may put on a page: its messages,
// with a template's fields standing for anything and numbers for any number
// (a plural's count).
func catalogMatchers(l *locale.Locale, ids []string) []*regexp.Regexp {
	var out []*regexp.Regexp
	for _, id := range ids {
		msg := l.T(id, "Count", 2, "Valid", "\x00", "URL", "\x00", "Subject", "\x00", "MB", "\x00",
			"Day", "\x00", "Month", "\x00", "Year", "\x00", "Time", "\x00", "Zone", "\x00")
		parts := strings.Split(msg, "\x00")
		for i := range parts {
			parts[i] = regexp.QuoteMeta(normalText(parts[i]))
		}
		out = append(out, regexp.MustCompile(`^(?:`+strings.Join(parts, `.*`)+`)$`))
	}
	return out
}

var digitsRE = regexp.MustCompile(`[0-9]+`)

// normalText is s with its spaces collapsed and its numbers written #.
func normalText(s string) string {
	return digitsRE.ReplaceAllString(strings.Join(strings.Fields(s), " "), "#")
}

// TestPagesSpeakOnlyTheCatalog renders the recipient's pages and the console's
// (account, sent items, administration, enrolment) in Spanish and in German
// and fails on any text that is not a message of that language's
// catalog (or the organisation's brand, or a language's own name in the
// switcher): an English sentence left in a template, a handler or a refusal
// shows up here, in the rendered page. The strings each page hands its
// scripts must be the language's too (checkScriptStrings).
func TestPagesSpeakOnlyTheCatalog(t *testing.T) {
	b := testBrand(t, "St Example Hospital")
	e := newEnv(t, withBrand(b))
	ids, err := locale.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	allowed := []string{b.Name, b.HelpPhone, b.HelpEmail, b.HelpWeb, b.HelpHours, b.Footer}
	for _, l := range e.svc.Locales().Languages() {
		allowed = append(allowed, l.Name())
	}
	id := strings.Repeat("ab", 16)
	seals := e.seal("results", time.Time{}, "patient@example.net", "other@example.net")
	sid := seals[0].file.Header.ID.String()
	for _, lang := range []string{"es", "de"} {
		l := e.svc.Locales().Get(lang)
		match := catalogMatchers(l, ids[lang])
		english := catalogMatchers(e.svc.Locales().Get("en"), ids["en"])
		pages := map[string]string{}
		for _, path := range []string{"/", "/open/" + id, "/e/" + id, "/open/nonsense", "/open/" + sid,
			// The console's shells (console.html), which console.js fills.
			"/account", "/sent", "/admin", "/admin/accounts", "/admin/administrators", "/admin/audit",
			"/admin/dashboard", "/admin/enrol", "/admin/envelopes/" + sid, "/admin/envelopes/nonsense"} {
			req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
			req.Header.Set("Accept-Language", lang+";q=0.9,en;q=0.5")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			pages[path] = string(body)
			if got := resp.Header.Get("Content-Language"); got != lang {
				t.Errorf("%s %s: Content-Language %q", lang, path, got)
			}
		}
		// A post the server refuses: the page says why, in the language.
		_, pages["POST foreign"] = postEnvelopeIn(t, e, sid, formFields(t, seals[1]), lang)
		_, pages["POST not waxseal"] = postEnvelopeIn(t, e, sid, map[string]string{"version": "x"}, lang)
		for path, page := range pages {
			if !strings.Contains(page, `<html lang="`+lang+`">`) {
				t.Errorf("%s %s: not <html lang=%q>", lang, path, lang)
			}
			checkScriptStrings(t, e, lang, path, page)
			for _, text := range pageTexts(page) {
				if speaksCatalog(text, allowed, match) {
					continue
				}
				text = normalText(text)
				why := "not in the catalog"
				for _, re := range english {
					if re.MatchString(text) {
						why = "English"
					}
				}
				t.Errorf("%s page %s: %s text %q", lang, path, why, text)
			}
		}
	}
}

// speaksCatalog reports whether text is one of allowed or matches a message,
// or is a <title>: the page's words, the site's, the brand, between " – ".
func speaksCatalog(text string, allowed []string, match []*regexp.Regexp) bool {
	if parts := strings.Split(text, " \u2013 "); len(parts) > 1 && !slices.ContainsFunc(parts, func(p string) bool {
		return !speaksCatalog(p, allowed, match)
	}) {
		return true
	}
	text = normalText(text)
	for _, a := range allowed {
		if text == normalText(a) {
			return true
		}
	}
	for _, re := range match {
		if re.MatchString(text) {
			return true
		}
	}
	return false
}

// sameInEnglish are the script strings whose German or Spanish is the
// English word (none yet): any other js.* message equal to its English is an
// untranslated copy.
var sameInEnglish = map[string]bool{}

// checkScriptStrings reads the strings a page hands its scripts (<body
// data-strings>, JSON) and fails unless they are the page language's and
// exactly those its scripts name: every js.* message whose id (without "js.")
// is a string literal of a script the page loads, none of them left in
// English, and no others (the page would carry them for nothing).
func checkScriptStrings(t *testing.T, e *env, lang, path, page string) {
	t.Helper()
	m := dataStringsRE.FindStringSubmatch(page)
	if m == nil {
		if strings.Contains(page, "<script") {
			t.Errorf("%s %s: a page with scripts but no data-strings", lang, path)
		}
		return
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &got); err != nil {
		t.Fatalf("%s %s: data-strings: %v", lang, path, err)
	}
	l, en := e.svc.Locales().Get(lang), e.svc.Locales().Get("en")
	catalog := l.Strings("js.")
	named := func(scripts []string) map[string]bool {
		out := map[string]bool{}
		for _, s := range scripts {
			if s == "wasm_exec" {
				continue
			}
			src, err := os.ReadFile("../assets/web/static/" + s + ".js")
			if err != nil {
				t.Fatal(err)
			}
			for _, lit := range jsLiteralRE.FindAllString(string(src), -1) {
				if id := lit[1 : len(lit)-1]; catalog[id] != "" {
					out[id] = true
				}
			}
		}
		return out
	}
	var loaded, mayLoad []string
	for _, s := range pageScriptRE.FindAllStringSubmatch(page, -1) {
		loaded = append(loaded, s[1])
	}
	// The page's template may load more scripts than this page does (reply.js
	// only with secure replies): their strings are shipped anyway.
	tmpl := "../assets/web/open.html"
	if regexp.MustCompile(`<body[^>]* data-page="`).MatchString(page) {
		tmpl = "../assets/web/console.html"
	}
	src, err := os.ReadFile(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range templateScriptRE.FindAllStringSubmatch(string(src), -1) {
		mayLoad = append(mayLoad, s[1])
	}
	want, allowed := named(loaded), named(mayLoad)
	if len(want) < 30 {
		t.Errorf("%s %s: its scripts name %d messages (the check sees nothing)", lang, path, len(want))
	}
	for id := range want {
		if _, ok := got[id]; !ok {
			t.Errorf("%s %s: a script names %q, which the page does not ship", lang, path, id)
		}
	}
	for k, v := range got {
		if !allowed[k] {
			t.Errorf("%s %s: ships %q, which none of its scripts names", lang, path, k)
		}
		if v != l.T("js."+k) {
			t.Errorf("%s %s: script string %q = %q, not the catalog's %q", lang, path, k, v, l.T("js."+k))
		}
		if v == en.T("js."+k) && letterRE.MatchString(placeholderRE.ReplaceAllString(v, "")) && !sameInEnglish[k] {
			t.Errorf("%s %s: script string %q is English: %q", lang, path, k, v)
		}
	}
}

var (
	dataStringsRE = regexp.MustCompile(`<body[^>]* data-strings="([^"]*)"`)
	pageScriptRE  = regexp.MustCompile(`<script src="/static/([a-z_]+)\.[0-9a-f]{12}\.js"`)
	// templateScriptRE finds the scripts a page template may load.
	templateScriptRE = regexp.MustCompile(`\{\{with asset "([a-z_]+)\.js"\}\}`)
	placeholderRE    = regexp.MustCompile(`\{\w+\}`)
	// jsLiteralRE finds a script's string literals ("…", '…', `…`).
	jsLiteralRE   = regexp.MustCompile("\"(?:[^\"\\\\\n]|\\\\.)*\"|'(?:[^'\\\\\n]|\\\\.)*'|`[^`]*`")
	jsCommentRE   = regexp.MustCompile(`(?m)^\s*//.*$|\s//\s.*$`)
	englishWordRE = regexp.MustCompile(`\b(?i:the|a|an|is|are|your|you|to|of|for|and|not|no|this|with|sign|message|passkey|password|code|please|try|again|cannot|could|send|sent|remove|confirm|revoke|lock|unlock|save|cancel|delete|enable|disable|expires?|opened|never|yet)\b`)
	labelRE       = regexp.MustCompile(`^[A-Z][a-z]+$`) // "Cancel": a button's label
	// jsNotText are the literals with such words that no one reads: DOM
	// names, classes and the like.
	jsNotText = map[string]bool{
		"form:not([hidden]) input, h1, h2": true,                                              // a CSS selector
		"Android":                          true, "Linux": true, "Mac": true, "Windows": true, // systems a passkey is named after
	}
)

// TestScriptsSpeakOnlyTheCatalog reads the page scripts' sources and fails on
// a string literal that reads as English words: what a script shows comes from
// the catalog through waxsealT (t("key")), never from a literal in the script.
func TestScriptsSpeakOnlyTheCatalog(t *testing.T) {
	files, err := filepath.Glob("../assets/web/static/*.js")
	if err != nil || len(files) < 5 {
		t.Fatalf("scripts: %v %v", files, err)
	}
	for _, f := range files {
		if filepath.Base(f) == "wasm_exec.js" {
			continue // Go's WebAssembly runtime (copied in by make): it shows no one anything
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		code := jsCommentRE.ReplaceAllString(string(src), "")
		for _, lit := range jsLiteralRE.FindAllString(code, -1) {
			text := lit[1 : len(lit)-1]
			if jsNotText[text] || strings.Contains(text, "${") && !letterRE.MatchString(regexp.MustCompile(`\$\{[^}]*\}`).ReplaceAllString(text, "")) {
				continue
			}
			// English words with a space between, or a capitalised word that
			// is a whole literal: a sentence or a label.
			if words := englishWordRE.FindAllString(text, -1); len(words) > 0 && strings.Contains(strings.TrimSpace(text), " ") || labelRE.MatchString(text) {
				t.Errorf("%s: English in a string literal: %s", filepath.Base(f), lit)
			}
		}
	}
}

// mailText is the decoded subject and body of m.
func mailText(t *testing.T, m *mail.Message) (string, string) {
	t.Helper()
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(quotedprintable.NewReader(m.Body))
	return subject, string(body)
}

// switchLanguage posts the switcher's form as a browser without JavaScript
// does, and returns the answer (not followed).
func switchLanguage(t *testing.T, e *env, b *browser, lang, back string) *http.Response {
	t.Helper()
	form := url.Values{"lang": {lang}, "back": {back}}
	req, _ := http.NewRequest("POST", e.srv.URL+"/language", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.public)
	if b != nil && b.cookie != "" {
		req.AddCookie(&http.Cookie{Name: "waxseal", Value: b.cookie})
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// The language follows the account's saved preference, then the switcher's
// cookie, then Accept-Language, then the default; the switcher's choice made
// before signing in is saved on the account, and the account's mails (codes)
// go out in it.
func TestLanguageChoiceAndMail(t *testing.T) {
	e := newEnv(t)
	s := e.seal("results", time.Time{}, "paciente@example.net")[0]
	id := s.file.Header.ID.String()

	// A visitor from a Spanish browser registers: the code mail is Spanish, and
	// the account keeps Spanish.
	b := e.browser()
	b.lang = "es-ES,es;q=0.9"
	if code, out := b.call("POST", "/api/v1/register/start", map[string]string{"envelope_id": id, "first_name": "Ana", "last_name": "García"}); code != http.StatusAccepted {
		t.Fatalf("register/start: %d %v", code, out)
	}
	mails := e.mailsTo("paciente@example.net")
	subject, body := mailText(t, mails[len(mails)-1])
	if !strings.HasPrefix(subject, "Su código de registro: ") || !strings.Contains(body, "El código es válido durante 10 minutos y solo se puede usar una vez.") {
		t.Errorf("registration code mail not in Spanish: %q\n%s", subject, body)
	}
	code := e.lastCode("paciente@example.net")
	if st, out := b.call("POST", "/api/v1/register/verify", map[string]string{"envelope_id": id, "code": code}); st != http.StatusOK {
		t.Fatalf("register/verify: %d %v", st, out)
	}
	if got := e.account("paciente@example.net").Language; got != "es" {
		t.Errorf("account language %q, want es", got)
	}
	// Refusals in the API speak it too.
	if st, out := b.call("POST", "/api/v1/signin/password", map[string]string{"email": "nadie@example.net", "password": "wrong password 1"}); st != http.StatusUnauthorized || !strings.HasPrefix(out["message"].(string), "El correo electrónico o la contraseña no son correctos.") {
		t.Errorf("refusal: %d %v", st, out)
	}

	// The switcher, signed in: German is saved on the account, and wins over
	// the browser's Spanish; the form goes back where it came from.
	resp := switchLanguage(t, e, b, "de", "/open/"+id)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/open/"+id {
		t.Fatalf("POST /language: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := e.account("paciente@example.net").Language; got != "de" {
		t.Errorf("after the switcher: account language %q, want de", got)
	}
	// A sign-in code asked for from an English browser, signed out, still
	// goes out in the account's German.
	anon := e.browser()
	anon.lang = "en"
	anon.call("POST", "/api/v1/signin/code", map[string]string{"email": "paciente@example.net"})
	mails = e.mailsTo("paciente@example.net")
	if subject, _ := mailText(t, mails[len(mails)-1]); !strings.HasPrefix(subject, "Ihr Anmeldecode: ") {
		t.Errorf("sign-in code mail subject %q, want German", subject)
	}

	// Anonymous: the cookie, remembered, beats Accept-Language; an unsafe
	// way back goes home; an unknown language is refused.
	resp = switchLanguage(t, e, nil, "de", "//evil.example/")
	var langCookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "waxseal_lang" {
			langCookie = c
		}
	}
	if resp.Header.Get("Location") != "/" || langCookie == nil || langCookie.Value != "de" || !langCookie.HttpOnly {
		t.Fatalf("anonymous switch: %q %v", resp.Header.Get("Location"), langCookie)
	}
	if resp := switchLanguage(t, e, nil, "xx", "/"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown language: %d", resp.StatusCode)
	}
	// The pages' no-referrer policy makes a browser send "Origin: null" with
	// the switcher's form: Sec-Fetch-Site says whether it came from here.
	for _, c := range []struct {
		origin, site string
		want         int
	}{
		{"null", "same-origin", http.StatusSeeOther},
		{"null", "cross-site", http.StatusForbidden},
		{"null", "same-site", http.StatusForbidden},
		{"null", "", http.StatusForbidden},
		{"https://evil.example", "", http.StatusForbidden},
		{e.public, "", http.StatusSeeOther},
	} {
		req, _ := http.NewRequest("POST", e.srv.URL+"/language", strings.NewReader("lang=de&back=/"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", c.origin)
		if c.site != "" {
			req.Header.Set("Sec-Fetch-Site", c.site)
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("POST /language, Origin %q, Sec-Fetch-Site %q: %d, want %d", c.origin, c.site, resp.StatusCode, c.want)
		}
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/", nil)
	req.Header.Set("Accept-Language", "es")
	req.AddCookie(langCookie)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if !strings.Contains(string(page), `<html lang="de">`) || !strings.Contains(string(page), "Sichere Nachrichten") {
		t.Errorf("cookie did not choose German:\n%.400s", page)
	}
	// No preference at all: the organisation's default.
	_, page2 := getPage(t, e.srv.URL+"/")
	if !strings.Contains(page2, `<html lang="en">`) {
		t.Error("no preference: not the default language")
	}

	// A visitor who switched to Spanish before signing in keeps it: signing
	// in saves it on the account (which said German).
	late := e.browser()
	late.langCookie = "es"
	late.call("POST", "/api/v1/signin/code", map[string]string{"email": "paciente@example.net"})
	code = e.lastCode("paciente@example.net")
	if st, out := late.call("POST", "/api/v1/signin/code/verify", map[string]string{"email": "paciente@example.net", "code": code}); st != http.StatusOK {
		t.Fatalf("sign in: %d %v", st, out)
	}
	if got := e.account("paciente@example.net").Language; got != "es" {
		t.Errorf("after sign-in with the switcher's cookie: %q, want es", got)
	}
}

// TestSavedLanguagesForTheGateway: the gateway's lookup (its token only)
// answers each recipient's saved language by the address as asked, and
// nothing for one without an account or without a saved language; a sender's
// read receipt follows the sender's saved language.
func TestSavedLanguagesForTheGateway(t *testing.T) {
	e := newEnv(t)
	s := e.seal("results", time.Time{}, "paciente@example.net", "other@example.net")
	b := e.browser()
	b.lang = "es"
	b.register(s[0], "Ana", "García") // saves the page's Spanish
	e.putAccount("alice", "alice@hospital.example", keyserver.RoleSender)
	e.putAccount("bare", "bare@example.net", keyserver.RoleRecipient)
	if err := e.svc.SetLanguage(t.Context(), "alice", "de"); err != nil {
		t.Fatal(err)
	}

	gw := client.New(e.srv.URL, gatewayToken, nil)
	got, err := gw.SavedLanguages(t.Context(), []string{"Paciente@Example.NET", "other@example.net", "bare@example.net", "not an address", "alice@hospital.example"})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"Paciente@Example.NET": "es", "alice@hospital.example": "de"}; !maps.Equal(got, want) {
		t.Errorf("saved languages %v, want %v", got, want)
	}
	// Chunked: more than one call's worth of addresses.
	many := make([]string, api.MaxLanguageAddresses+3)
	for i := range many {
		many[i] = fmt.Sprintf("p%d@example.net", i)
	}
	many[len(many)-1] = "paciente@example.net"
	if got, err := gw.SavedLanguages(t.Context(), many); err != nil || len(got) != 1 || got["paciente@example.net"] != "es" {
		t.Errorf("chunked lookup: %v %v", got, err)
	}
	body := `{"addresses":["paciente@example.net"]}`
	if st, _ := e.gatewayCall("POST", "/api/v1/languages", "application/json", strings.NewReader(body), adminToken); st != http.StatusForbidden && st != http.StatusUnauthorized {
		t.Errorf("admin token: %d, want refused", st)
	}
	if st, _ := e.gatewayCall("POST", "/api/v1/languages", "application/json", strings.NewReader(body), "wrong"); st != http.StatusUnauthorized {
		t.Errorf("no gateway token: %d", st)
	}
	js, _ := json.Marshal(api.LanguagesRequest{Addresses: many})
	if st, code := e.gatewayCall("POST", "/api/v1/languages", "application/json", bytes.NewReader(js), gatewayToken); st != http.StatusBadRequest || code != "bad_request" {
		t.Errorf("too many addresses: %d %q", st, code)
	}

	// Ana opens the message: alice's read receipt is in alice's German.
	b.open(s[0])
	mails := e.mailsTo("alice@hospital.example")
	if len(mails) == 0 {
		t.Fatal("no read receipt")
	}
	subject, text := mailText(t, mails[len(mails)-1])
	if subject != "Gelesen: Results" || !strings.Contains(text, "Ihre sichere Nachricht wurde geöffnet.") {
		t.Errorf("read receipt not in the sender's German: %q\n%s", subject, text)
	}
}

// TestFrameworkRefusalsSpeakTheCatalog: what the HTTP framework refuses by
// itself (no such route, a method the route does not take) is said in the
// reader's language, its code unchanged. (The routes end in a catch-all, so
// a method a route does not take is a 404 too.)
func TestFrameworkRefusalsSpeakTheCatalog(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.lang = "es"
	for _, c := range []struct {
		method, path string
		status       int
		code, msg    string
	}{
		{"GET", "/api/v1/no-such-thing", http.StatusNotFound, "not_found", "No hay nada en esta dirección."},
		{"PUT", "/api/v1/envelopes", http.StatusNotFound, "not_found", "No hay nada en esta dirección."},
	} {
		st, out := b.call(c.method, c.path, nil)
		if st != c.status || out["error"] != c.code || out["message"] != c.msg {
			t.Errorf("%s %s: %d %v, want %d %s %q", c.method, c.path, st, out, c.status, c.code, c.msg)
		}
	}
}

// TestNotFoundPageForPeople: a browser that loads an address with nothing at
// it (a link cut short in a mail client, a typo) gets a page in its
// language, with the brand and the way forward; scripts and API clients keep
// the JSON refusal, and so does a browser's fetch of a missing API path.
func TestNotFoundPageForPeople(t *testing.T) {
	e := newEnv(t)
	get := func(method, path string, headers ...string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, nil)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
	}
	cats, err := locale.Load("")
	if err != nil {
		t.Fatal(err)
	}
	es := cats.Get("es")
	for _, c := range []struct {
		name    string
		method  string
		path    string
		headers []string
		page    bool
	}{
		{"a followed link", "GET", "/opn/0123", []string{"Sec-Fetch-Mode", "navigate", "Accept-Language", "es"}, true},
		{"an older browser", "GET", "/mensaje", []string{"Accept", "text/html,application/xhtml+xml", "Accept-Language", "es"}, true},
		{"a script's fetch", "GET", "/opn/0123", []string{"Sec-Fetch-Mode", "cors", "Accept", "text/html", "Accept-Language", "es"}, false},
		{"a missing API path, navigated", "GET", "/api/v1/nothing", []string{"Sec-Fetch-Mode", "navigate", "Accept-Language", "es"}, false},
		{"a client without Accept", "GET", "/opn/0123", []string{"Accept-Language", "es"}, false},
		{"a form sent to nowhere", "POST", "/opn/0123", []string{"Sec-Fetch-Mode", "navigate", "Accept-Language", "es"}, false},
	} {
		st, ct, body := get(c.method, c.path, c.headers...)
		if st != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", c.name, st)
		}
		if !c.page {
			if !strings.HasPrefix(ct, "application/json") || !strings.Contains(body, `"error":"not_found"`) {
				t.Errorf("%s: want the JSON refusal, got %s: %.200s", c.name, ct, body)
			}
			continue
		}
		if !strings.HasPrefix(ct, "text/html") {
			t.Errorf("%s: Content-Type %s, want a page", c.name, ct)
			continue
		}
		for _, want := range []string{`<html lang="es"`, html.EscapeString(es.T("notfound.title")), html.EscapeString(es.T("notfound.p1"))} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: the page lacks %q", c.name, want)
			}
		}
	}
	// The address asked for goes back only into the language switcher's
	// return path, escaped.
	st, _, body := get("GET", "/%3Cscript%3Ealert(1)%3C/script%3E", "Sec-Fetch-Mode", "navigate")
	if st != http.StatusNotFound || strings.Contains(body, "<script>alert") {
		t.Errorf("a hostile address: %d, unescaped in the page:\n%s", st, body)
	}
}

// TestAddressRefusalsSpeakTheLanguage: an address a member of staff types
// into a search (here Sent items' recipient filter) is refused in their
// language, saying what is wrong with it, not in the address parser's
// English; every rule the parser refuses by has its sentence.
func TestAddressRefusalsSpeakTheLanguage(t *testing.T) {
	e := newEnv(t)
	alice := e.browser()
	alice.lang = "es"
	alice.call("POST", "/api/v1/register/start", map[string]string{"email": "alice@hospital.example", "first_name": "Alice", "last_name": "Sender"})
	if st, out := alice.call("POST", "/api/v1/register/verify", map[string]string{"email": "alice@hospital.example", "code": e.lastCode("alice@hospital.example")}); st != http.StatusOK {
		t.Fatalf("sender register/verify: %d %v", st, out)
	}
	alice.addPasskey(e.auth(), "Office PC")
	for _, c := range []struct{ typed, want string }{
		{"kate", "A «kate» le falta la @ y el dominio (como nombre@ejemplo.org)."},
		{"kate@", "«kate@»: no hay nada después de la @."},
		{"@patient.example", "«@patient.example»: no hay nada antes de la @."},
		{"kate@patient.example.", "«kate@patient.example.»: el dominio termina en punto."},
		{"kate@patient..example", "«kate@patient..example»: el dominio tiene dos puntos seguidos."},
		{"kate@@patient.example", "«kate@@patient.example» no es una dirección de correo electrónico (como nombre@ejemplo.org)."},
		{"\u212Aate@patient.example", "«\u212Aate@patient.example» contiene un carácter que imita a otro"},
		{"\u0130nan@patient.example", "«\u0130nan@patient.example» contiene el carácter U+0130, que imita a la letra «i»"},
		{"аlice@patient.example", "«аlice@patient.example» mezcla letras de alfabetos distintos"},
		{"<b>x</b>", "A «<b>x</b>» le falta la @"}, // said as text: the console shows messages with textContent
	} {
		st, out := alice.call("GET", "/api/v1/sent?recipient="+url.QueryEscape(c.typed), nil)
		msg, _ := out["message"].(string)
		if st != http.StatusBadRequest || out["error"] != "bad_request" || !strings.HasPrefix(msg, c.want) {
			t.Errorf("recipient %q: %d %v; want 400 bad_request saying %q", c.typed, st, out, c.want)
		}
		if strings.Contains(msg, "domain") || strings.Contains(msg, "invalid address") {
			t.Errorf("recipient %q: the parser's English in %q", c.typed, msg)
		}
	}
}

// TestAuditSearchSaysRecordsInTheLanguage: the console's audit search gives
// each record in the reader's words beside the record as written (which the
// chain's hash covers, and exports and scripts read).
func TestAuditSearchSaysRecordsInTheLanguage(t *testing.T) {
	e := newEnv(t)
	e.seal("Subject: Results\r\n\r\nhi\r\n", e.clock.Now().Add(24*time.Hour), "bob@patient.example")
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/admin/audit/search?action=envelope.register", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Accept-Language", "de")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var page struct {
		Records []struct {
			Action, Detail string
			Said           map[string]string
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&page); err != nil || len(page.Records) != 1 {
		t.Fatalf("%d: %v, %+v", res.StatusCode, err, page)
	}
	r := page.Records[0]
	if r.Action != "envelope.register" || !strings.HasPrefix(r.Detail, "sender ") ||
		r.Said["action"] != "Nachricht verschlüsselt" || !strings.HasPrefix(r.Said["detail"], "von ") || !strings.Contains(r.Said["detail"], " an bob@patient.example") {
		t.Errorf("record %+v", r)
	}
}
