package keyserver

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/waxseal/waxseal/locale"
)

var (
	withCallRE = regexp.MustCompile(`\.With\(\s*("[^"]*"|[^,)]*)([^)]*)`)
	slotNameRE = regexp.MustCompile(`\{\{\s*\.([A-Za-z]+)\s*\}\}`)
	argNameRE  = regexp.MustCompile(`(?:^|,)\s*"([A-Za-z]+)"\s*,`)
	// A refusal defined with its sentence in the source, then said from the
	// catalog: (&Error{..., "sentence", ...}).With("refusal.id").
	sentinelRE = regexp.MustCompile(`("(?:[^"\\]|\\.)*")[^"]*\}\)\.With\("(refusal\.[a-z_]+)"\)`)
)

// TestEveryRefusalSentenceIsInTheCatalog reads the key server's source: every
// refusal with its own sentence (Error.With) names a catalog message by its
// id, as a literal, and gives each of the message's {{.Name}} slots; the
// catalogs' completeness test then holds the id to every language. A sentence
// written straight into a With, as before, fails here.
func TestEveryRefusalSentenceIsInTheCatalog(t *testing.T) {
	en := locale.English()
	n := 0
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || p == "refusal.go" {
			return err
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range sentinelRE.FindAllStringSubmatch(string(src), -1) {
			if lit, err := strconv.Unquote(m[1]); err != nil || lit != en.T(m[2]) {
				t.Errorf("%s: %s says %q in the source and %q in the catalog", p, m[2], lit, en.T(m[2]))
			}
		}
		for _, line := range strings.Split(string(src), "\n") {
			if !strings.Contains(line, "Err") && !strings.Contains(line, "keyserver.") {
				continue // loggers' With
			}
			for _, m := range withCallRE.FindAllStringSubmatch(line, -1) {
				n++
				id := strings.Trim(m[1], `"`)
				if !strings.HasPrefix(m[1], `"refusal.`) {
					t.Errorf("%s: %s: a refusal's sentence must be a catalog id (refusal.*), not %s", p, strings.TrimSpace(line), m[1])
					continue
				}
				msg := en.T(id, "Count", 2)
				if msg == id {
					t.Errorf("%s: %s is in no catalog", p, id)
					continue
				}
				given := map[string]bool{}
				for _, a := range argNameRE.FindAllStringSubmatch(m[2], -1) {
					given[a[1]] = true
				}
				for _, s := range slotNameRE.FindAllStringSubmatch(msg, -1) {
					if !given[s[1]] && s[1] != "Count" {
						t.Errorf("%s: %s needs {{.%s}}, which the call does not give", p, id, s[1])
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Errorf("found %d With calls: the scan is broken", n)
	}
}

// TestRefusalsSpeakTheLanguage: a refusal with its own sentence keeps its
// code and its English Message, and says itself in each shipped language,
// arguments, plural forms and waits in words included.
func TestRefusalsSpeakTheLanguage(t *testing.T) {
	c, err := locale.Load("")
	if err != nil {
		t.Fatal(err)
	}
	e := ErrBadCode.With("refusal.code_tries_left", "Count", 1)
	if e.Code != "bad_code" || e.Status != http.StatusBadRequest || e.Message != "That code is not correct. 1 try left." {
		t.Fatalf("%+v", e)
	}
	for lang, want := range map[string]string{
		"en": "That code is not correct. 3 tries left.",
		"es": "Ese código no es correcto. Le quedan 3 intentos.",
		"de": "Dieser Code ist nicht korrekt. Noch 3 Versuche.",
	} {
		if got := ErrBadCode.With("refusal.code_tries_left", "Count", 3).Text(c.Get(lang)); got != want {
			t.Errorf("%s: %q, want %q", lang, got, want)
		}
	}
	wait := ErrAccountLocked.With("refusal.lockout_wait", "Wait", 14*time.Minute+59*time.Second)
	if got := wait.Text(c.Get("es")); !strings.Contains(got, "dentro de 15 minutos") {
		t.Errorf("wait in Spanish: %q", got)
	}
	weak := ErrWeakPassword.WithMsg(*passwordProblem("password123", 10, nil))
	if got := weak.Text(c.Get("de")); !strings.HasPrefix(got, "Dieses Passwort ist zu leicht zu erraten: ") || strings.Contains(got, "tried") {
		t.Errorf("weak password in German: %q", got)
	}
	if !strings.HasPrefix(weak.Message, "This password is too easy to guess: ") {
		t.Errorf("English: %q", weak.Message)
	}
	// A sentinel's sentence still goes by its code.
	if got := ErrRevoked.Text(c.Get("es")); got != c.Get("es").T("error.revoked") {
		t.Errorf("sentinel: %q", got)
	}
}
