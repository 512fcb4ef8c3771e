package locale

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestPluralsDatesAndMatching(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		lang, id string
		n        int
		want     string
	}{
		{"en", "duration.minutes", 1, "1 minute"},
		{"en", "duration.minutes", 10, "10 minutes"},
		{"es", "duration.minutes", 1, "1 minuto"},
		{"es", "duration.minutes", 10, "10 minutos"},
		{"de", "duration.seconds", 1, "1 Sekunde"},
		{"de", "duration.seconds", 30, "30 Sekunden"},
	} {
		if got := c.Get(tc.lang).T(tc.id, "Count", tc.n); got != tc.want {
			t.Errorf("%s %s %d = %q, want %q", tc.lang, tc.id, tc.n, got, tc.want)
		}
	}
	at := time.Date(2026, 12, 4, 15, 4, 0, 0, time.UTC)
	for lang, want := range map[string]string{
		"en": "4 December 2026, 15:04 UTC",
		"es": "4 de diciembre de 2026, 15:04 UTC",
		"de": "4. Dezember 2026, 15:04 UTC",
	} {
		if got := c.Get(lang).Date(at); got != want {
			t.Errorf("%s date = %q, want %q", lang, got, want)
		}
	}
	for header, want := range map[string]string{
		"es-MX,es;q=0.9,en;q=0.5": "es",
		"de-AT":                   "de",
		"fr-FR,fr;q=0.9":          "",
		"fr,de;q=0.5":             "de",
		"":                        "",
		"en-US":                   "en",
	} {
		if got := c.FromAcceptLanguage(header); got != want {
			t.Errorf("Accept-Language %q = %q, want %q", header, got, want)
		}
	}
}

// An organisation's file overrides one message of a shipped language and adds
// a language; the added one falls back to English for what it lacks.
func TestOverrideFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "es.toml"), []byte(`"home.title" = "Mensajes cifrados del hospital"`+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "fr.toml"), []byte(`"language.name" = "Français"`+"\n"+`"home.title" = "Messages sécurisés"`+"\n"), 0o600)
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Get("es").T("home.title"); got != "Mensajes cifrados del hospital" {
		t.Errorf("override: %q", got)
	}
	if got := c.Get("es").T("open.title"); got != "Mensaje seguro" {
		t.Errorf("the rest of es changed: %q", got)
	}
	fr := c.Get("fr")
	if fr == nil {
		t.Fatal("fr not offered")
	}
	if fr.Name() != "Français" || fr.T("home.title") != "Messages sécurisés" || fr.T("open.title") != "Secure message" {
		t.Errorf("fr: %q %q %q", fr.Name(), fr.T("home.title"), fr.T("open.title"))
	}
	if got := c.FromAcceptLanguage("fr-CA"); got != "fr" {
		t.Errorf("fr-CA = %q", got)
	}

	// A language split over several files, as the shipped ones are: an
	// AREA.LANG.toml overrides and adds to LANG as LANG.toml does.
	os.WriteFile(filepath.Join(dir, "pages.es.toml"), []byte(`"open.title" = "Mensaje del hospital"`+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "mail.it.toml"), []byte(`"language.name" = "Italiano"`+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "pages.it.toml"), []byte(`"home.title" = "Messaggi sicuri"`+"\n"), 0o600)
	if c, err = Load(dir); err != nil {
		t.Fatal(err)
	}
	if got := c.Get("es").T("open.title"); got != "Mensaje del hospital" {
		t.Errorf("pages.es.toml: %q", got)
	}
	if got := c.Get("es").T("home.title"); got != "Mensajes cifrados del hospital" {
		t.Errorf("es.toml beside pages.es.toml: %q", got)
	}
	if it := c.Get("it"); it == nil || it.Name() != "Italiano" || it.T("home.title") != "Messaggi sicuri" {
		t.Errorf("it from two files: %v", it)
	}
	for p, want := range map[string]string{"es.toml": "es", "catalog/mail.de.toml": "de", "errors.en.toml": "en"} {
		if got := LanguageOf(p); got != want {
			t.Errorf("LanguageOf(%q) = %q", p, got)
		}
	}
	if got := c.FromAcceptLanguage("fr-CA"); got != "fr" {
		t.Errorf("fr-CA = %q", got)
	}
	os.WriteFile(filepath.Join(dir, "bad.toml"), []byte("= broken"), 0o600)
	if _, err := Load(dir); err == nil {
		t.Error("a broken override file loaded")
	}
}
