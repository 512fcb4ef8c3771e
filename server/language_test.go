package server

import (
	"context"
	"errors"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/emersion/go-smtp"

	"github.com/waxseal/waxseal/envelope/wrapper"
	"github.com/waxseal/waxseal/locale"
)

// mailCatalog is the shipped mail.LANG.toml: the gateway's own messages.
func mailCatalog(t *testing.T, lang string) map[string]string {
	t.Helper()
	var m map[string]string
	if _, err := toml.DecodeFile("../locale/catalog/mail."+lang+".toml", &m); err != nil {
		t.Fatal(err)
	}
	return m
}

var (
	slotRE   = regexp.MustCompile(`\{\{\.[A-Za-z]+\}\}`)
	spacesRE = regexp.MustCompile(`\s+`)
)

// englishMatchers find any English message of the gateway's catalog in a
// text: a sentence with its slots standing for anything, or a one-word label
// where a label stands (before a colon, or as a whole text of a page).
func englishMatchers(t *testing.T) map[string]*regexp.Regexp {
	out := map[string]*regexp.Regexp{}
	for id, msg := range mailCatalog(t, "en") {
		parts := slotRE.Split(msg, -1)
		for i := range parts {
			parts[i] = regexp.QuoteMeta(spacesRE.ReplaceAllString(parts[i], " "))
		}
		re := strings.Join(parts, `.*`)
		if !strings.Contains(msg, " ") {
			re = `(?m)(^|\n|> ?)\s*` + re + `(:|\s*<|\s*$)`
		}
		out[id] = regexp.MustCompile(re)
	}
	return out
}

// noEnglish fails on any English message of the catalog in text (its spaces
// collapsed first, as a line break in the file is a space to the reader).
func noEnglish(t *testing.T, what, text string, english map[string]*regexp.Regexp) {
	t.Helper()
	flat := strings.Join(strings.Fields(text), " ")
	for id, re := range english {
		if re.MatchString(flat) || re.MatchString(text) {
			t.Errorf("%s: English %q left in:\n%s", what, id, text)
		}
	}
}

// htmlTexts are the texts a reader sees of a page: tags, scripts and styles
// dropped, entities decoded.
func htmlTexts(page string) string {
	page = regexp.MustCompile(`(?s)<(script|style)[^>]*>.*?</(script|style)>`).ReplaceAllString(page, " ")
	page = regexp.MustCompile(`(?s)<[^>]*>`).ReplaceAllString(page, "\n")
	return html.UnescapeString(page)
}

// securedocOf cuts securedoc.html's visible part out of a wrapper mail (the
// file travels 7bit, so it is in the mail as written).
func securedocOf(t *testing.T, raw string) string {
	t.Helper()
	start := strings.Index(raw, "<!DOCTYPE html>\r\n<html lang=")
	end := strings.Index(raw, "<div hidden>")
	if start < 0 || end < start {
		t.Fatal("no securedoc.html in the wrapper mail")
	}
	return raw[start:end]
}

// TestGatewaySpeaksTheDefaultLanguage: a gateway whose organisation speaks
// Spanish writes the wrapper mail (plain and HTML notice), securedoc.html,
// the sender's confirmation and the non-delivery notice in Spanish, times in
// the organisation's zone with the zone shown, and no English sentence of the
// catalog is left in any of them (checked on what is sent, not the source).
func TestGatewaySpeaksTheDefaultLanguage(t *testing.T) {
	c, err := locale.Load("")
	if err != nil {
		t.Fatal(err)
	}
	es := c.Get("es")
	tz := time.FixedZone("CET", 3600)
	e := startGateway(t, gwOptions{tweak: func(cfg *Config) {
		cfg.Language, cfg.TimeZone, cfg.Brand = es, tz, testBrand(t)
		cfg.ReplyPublicKey = &replyKey.Public
	}})
	e.hop.mu.Lock()
	e.hop.refuse = map[string]*smtp.SMTPError{"dave@patient.example": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}}
	e.hop.mu.Unlock()
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example", "dave@patient.example"}, labMessage("PHI: results")); se != nil {
		t.Fatal(se)
	}
	english := englishMatchers(t)
	months := regexp.MustCompile(`\d+ de (enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre) de \d{4}, \d\d:\d\d CET`)

	wrappers := e.hop.to("bob@patient.example")
	if len(wrappers) != 1 {
		t.Fatalf("%d wrapper mails to bob", len(wrappers))
	}
	_, notice, noticeHTML, _ := wrapperParts(t, wrappers[0].Data)
	for _, want := range []string{"Ha recibido un mensaje seguro de", "y seleccione Abrir.",
		"abra el mensaje en línea:", "Para responder de forma segura", "El archivo adjunto nunca le pide su contraseña.", "Asistencia: +1 555 0100"} {
		if !strings.Contains(notice, want) {
			t.Errorf("wrapper notice lacks %q:\n%s", want, notice)
		}
	}
	if !regexp.MustCompile(`Asunto: results\r?\n`).MatchString(notice) {
		t.Errorf("wrapper notice's subject:\n%s", notice)
	}
	noEnglish(t, "wrapper notice", notice, english)
	if !strings.Contains(noticeHTML, "<strong>Abrir</strong>") {
		t.Errorf("wrapper HTML notice:\n%s", noticeHTML)
	}
	noEnglish(t, "wrapper HTML notice", htmlTexts(noticeHTML), english)
	doc := securedocOf(t, string(wrappers[0].Data))
	if !strings.Contains(doc, `<html lang="es">`) || !months.MatchString(htmlTexts(doc)) {
		t.Errorf("securedoc.html not Spanish or its date not the organisation's:\n%s", doc)
	}
	noEnglish(t, "securedoc.html", htmlTexts(doc), english)

	var confirmation, ndn string
	for _, r := range e.hop.to("alice@hospital.example") {
		body := strings.ReplaceAll(bodyText(t, r.Data), "\r\n", "\n")
		switch {
		case strings.Contains(body, "Su mensaje se envió de forma segura."):
			confirmation = body
		case strings.Contains(body, "Su mensaje no se pudo entregar a:"):
			ndn = body
		}
		noEnglish(t, "notice", body, english)
	}
	if confirmation == "" || ndn == "" {
		t.Fatalf("Spanish confirmation %q, non-delivery notice %q", confirmation, ndn)
	}
	if !months.MatchString(confirmation) || !strings.Contains(confirmation, "Asunto:   results\nEnviado:  ") {
		t.Errorf("confirmation:\n%s", confirmation)
	}
	for _, want := range []string{"El sobre seguro fue rechazado o no se pudo transmitir:", "El servidor de destino respondió: 550 5.1.1 no such user", "Los demás destinatarios"} {
		if !strings.Contains(ndn, want) {
			t.Errorf("non-delivery notice lacks %q:\n%s", want, ndn)
		}
	}
}

// TestGermanSecuredoc: a German-speaking organisation's securedoc.html says
// everything a reader sees in German, lines short enough for 7bit mail, and
// still parses as an envelope.
func TestGermanSecuredoc(t *testing.T) {
	c, err := locale.Load("")
	if err != nil {
		t.Fatal(err)
	}
	e := startGateway(t, gwOptions{tweak: func(cfg *Config) { cfg.Language, cfg.Brand = c.Get("de"), testBrand(t) }})
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, labMessage("PHI: results")); se != nil {
		t.Fatal(se)
	}
	wrappers := e.hop.to("bob@patient.example")
	if len(wrappers) != 1 {
		t.Fatalf("%d wrapper mails to bob", len(wrappers))
	}
	wrapperParts(t, wrappers[0].Data) // parses the attached file
	doc := securedocOf(t, string(wrappers[0].Data))
	text := htmlTexts(doc)
	for _, want := range []string{"Sichere Nachricht von", "Sie haben eine sichere Nachricht erhalten", "Betreff", "Öffnen",
		"Die Nachricht ist verschlüsselt.", "Diese Datei fragt nie nach Ihrem Passwort.", "Nachrichtenkennung:", "Kundendienst:", "Datenschutzhinweis"} {
		if !strings.Contains(strings.Join(strings.Fields(text), " "), want) {
			t.Errorf("securedoc.html lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(doc, `<html lang="de">`) || !strings.Contains(doc, `<button type="submit">&#xD6;ffnen</button>`) {
		t.Errorf("securedoc.html:\n%s", doc)
	}
	noEnglish(t, "securedoc.html", text, englishMatchers(t))
	for i, line := range strings.Split(doc, "\r\n") {
		if len(line) > 998 {
			t.Errorf("line %d has %d characters", i+1, len(line))
		}
	}
}

// TestWrapperEnglishIsTheCatalogs: the wrapper's English for mail written
// without a catalog is the shipped English catalog's, word for word.
func TestWrapperEnglishIsTheCatalogs(t *testing.T) {
	cat := mailCatalog(t, "en")
	for id, s := range wrapper.English {
		if cat[id] != s {
			t.Errorf("%s: wrapper says %q, the catalog %q", id, s, cat[id])
		}
	}
}

// TestRecipientsSavedLanguage: over real SMTP on loopback, with the real key
// server, a recipient who saved Spanish gets the wrapper mail and
// securedoc.html in Spanish, while one with no saved language gets the
// organisation's default (English) in the same message; the sender's
// confirmation stays in the default.
func TestRecipientsSavedLanguage(t *testing.T) {
	e := startGateway(t, gwOptions{tweak: func(cfg *Config) { cfg.Brand = testBrand(t) }})
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, labMessage("PHI: first")); se != nil {
		t.Fatal(se)
	}
	_, _, _, file := wrapperParts(t, e.hop.to("bob@patient.example")[0].Data)
	e.ks.openAs(&browser{k: e.ks}, file) // bob now has an account
	ctx := context.Background()
	bob, err := e.ks.store.AccountByEmail(ctx, "bob@patient.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ks.svc.SetLanguage(ctx, bob.ID, "es"); err != nil {
		t.Fatal(err)
	}

	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example", "carol@patient.example"}, labMessage("PHI: second")); se != nil {
		t.Fatal(se)
	}
	english := englishMatchers(t)
	toBob := e.hop.to("bob@patient.example")
	if len(toBob) != 2 {
		t.Fatalf("%d wrapper mails to bob", len(toBob))
	}
	_, notice, noticeHTML, _ := wrapperParts(t, toBob[1].Data)
	for _, want := range []string{"Ha recibido un mensaje seguro de", "y seleccione Abrir.", "El archivo adjunto nunca le pide su contraseña."} {
		if !strings.Contains(notice, want) {
			t.Errorf("bob's wrapper notice lacks %q:\n%s", want, notice)
		}
	}
	noEnglish(t, "bob's wrapper notice", notice, english)
	noEnglish(t, "bob's wrapper HTML notice", htmlTexts(noticeHTML), english)
	doc := securedocOf(t, string(toBob[1].Data))
	flat := strings.Join(strings.Fields(htmlTexts(doc)), " ")
	if !strings.Contains(doc, `<html lang="es">`) || !strings.Contains(flat, "Mensaje seguro de") {
		t.Errorf("bob's securedoc.html not Spanish:\n%s", doc)
	}
	noEnglish(t, "bob's securedoc.html", htmlTexts(doc), english)

	toCarol := e.hop.to("carol@patient.example")
	if len(toCarol) != 1 {
		t.Fatalf("%d wrapper mails to carol", len(toCarol))
	}
	_, notice, _, _ = wrapperParts(t, toCarol[0].Data)
	if !strings.Contains(notice, "You have received a secure message from") {
		t.Errorf("carol's wrapper notice not in the default English:\n%s", notice)
	}
	if doc := securedocOf(t, string(toCarol[0].Data)); !strings.Contains(doc, `<html lang="en">`) {
		t.Errorf("carol's securedoc.html not English:\n%.300s", doc)
	}
	for _, r := range e.hop.to("alice@hospital.example") {
		if body := bodyText(t, r.Data); strings.Contains(body, "second") && !strings.Contains(body, "Your message was sent securely.") {
			t.Errorf("confirmation not in the default language:\n%s", body)
		}
	}
}

// unknownLanguages is a key server that registers but cannot tell languages.
type unknownLanguages struct{ Registrar }

func (unknownLanguages) SavedLanguages(context.Context, []string) (map[string]string, error) {
	return nil, errors.New("key server unreachable")
}

// TestSavedLanguageUnknown: when the key server cannot tell the recipients'
// languages, the message still goes, in the default language.
func TestSavedLanguageUnknown(t *testing.T) {
	c, err := locale.Load("")
	if err != nil {
		t.Fatal(err)
	}
	e := startGateway(t, gwOptions{tweak: func(cfg *Config) {
		cfg.Language = c.Get("de")
		cfg.KeyServer = unknownLanguages{cfg.KeyServer}
	}})
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, labMessage("PHI: results")); se != nil {
		t.Fatal(se)
	}
	toBob := e.hop.to("bob@patient.example")
	if len(toBob) != 1 || !strings.Contains(securedocOf(t, string(toBob[0].Data)), `<html lang="de">`) {
		t.Fatalf("%d wrapper mails to bob, or not in the default German", len(toBob))
	}
	if !strings.Contains(e.logs.String(), "recipients' languages unknown") {
		t.Errorf("the failed lookup is not logged:\n%s", e.logs.String())
	}
}

// TestRefusalReasonInTheLanguage: the sender's bounce gives the reason a
// message was refused in the organisation's language, sizes written its way,
// while the SMTP reply keeps the shipped English (what mail clients show and
// operators search for).
func TestRefusalReasonInTheLanguage(t *testing.T) {
	c, err := locale.Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		msg, smtp, notice string
	}{
		{"From: alice@hospital.example\nTo: bob@patient.example\nSubject: PHI: a\nSubject: PHI: b\n\nhello\n",
			"The message could not be read: it has 2 Subject headers",
			"Motivo: No se pudo leer el mensaje: tiene 2 encabezados Subject."},
		{"From: alice@hospital.example\nTo: bob@patient.example\nSubject: PHI: results\nMIME-Version: 1.0\n" +
			"Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\nhello\n--x\n" +
			"Content-Type: application/pdf; name=\"r.pdf\"\nContent-Disposition: attachment; filename=\"r.pdf\"\n\n" +
			strings.Repeat("0123456789abcdef0123456789abcdef\n", 1024) + "--x--\n",
			"The attachment 1 (MIME part 2) is larger than the limit of 0.0 MB (16384 bytes) for any attachment",
			"Motivo: El adjunto 1 (parte MIME 2) supera el límite de 0,0 MB (16384 bytes) para cualquier adjunto."},
	} {
		e := startGateway(t, gwOptions{tweak: func(cfg *Config) { cfg.Language, cfg.MaxAttachmentBytes = c.Get("es"), 16<<10 }})
		se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, crlf(tc.msg))
		if se == nil || !strings.Contains(se.Message, tc.smtp) {
			t.Fatalf("SMTP reply %v, want it to say %q", se, tc.smtp)
		}
		notices := e.hop.to("alice@hospital.example")
		if len(notices) != 1 {
			t.Fatalf("%d notices", len(notices))
		}
		if body := bodyText(t, notices[0].Data); !strings.Contains(strings.ReplaceAll(body, "\r\n", "\n"), tc.notice) {
			t.Errorf("the notice does not say %q:\n%s", tc.notice, body)
		}
	}
}
