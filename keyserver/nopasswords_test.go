package keyserver_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// pageText fetches a page in language lang and returns its HTML.
func pageText(t *testing.T, e *env, path, lang string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Language", lang)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %v", path, resp.StatusCode, err)
	}
	return string(b)
}

// passwordMarkup is what offers a password: fields, the forms and panels that
// take or set one, "forgot password", and "or a password" choices.
var passwordMarkup = regexp.MustCompile(`type="password"|id="[a-z-]*password[a-z-]*"|id="form-signin"|panel-forgot|or_password|or a password`)

// passwordWord is the word in each shipped language.
var passwordWord = map[string]*regexp.Regexp{
	"en": regexp.MustCompile(`(?i)password`),
	"es": regexp.MustCompile(`(?i)contraseña`),
	"de": regexp.MustCompile(`(?i)passwort|kennwort`),
}

// TestPagesWithoutPasswords: a server that does not use passwords (the Worker)
// offers no password field, form or choice on its sign-in, registration and
// account pages, and nothing in them says "password" in any shipped language,
// not even the scripts' strings (data-strings), which are said in the
// catalogs' wording without passwords (ID_nopw) or left out; the same pages
// of a server with passwords have them (so the check can see them).
func TestPagesWithoutPasswords(t *testing.T) {
	paths := []string{"/e/" + strings.Repeat("a", 32), "/open/" + strings.Repeat("b", 32), "/account", "/sent", "/admin"}
	with := newEnv(t)
	without := newEnv(t, func(c *keyserver.Config) { c.NoPasswords = true })
	for lang, word := range passwordWord {
		for _, path := range paths {
			on := pageText(t, with, path, lang)
			off := pageText(t, without, path, lang)
			if path != "/admin" && !passwordMarkup.MatchString(on) {
				t.Errorf("%s with passwords: no password markup (the check sees nothing)", path)
			}
			if !word.MatchString(on) {
				t.Errorf("%s in %s with passwords: no %v (the check sees nothing)", path, lang, word)
			}
			for _, at := range passwordMarkup.FindAllStringIndex(off, -1) {
				t.Errorf("%s without passwords: %q", path, off[max(0, at[0]-80):min(len(off), at[1]+40)])
			}
			for _, at := range word.FindAllStringIndex(off, -1) {
				t.Errorf("%s in %s without passwords says: %q", path, lang, off[max(0, at[0]-80):min(len(off), at[1]+40)])
			}
			for _, id := range []string{`id="btn-passkey-signin"`, `id="form-code-start"`} {
				if path != "/admin" && !strings.Contains(off, id) {
					t.Errorf("%s without passwords: no %s (passkey and emailed code are the ways in)", path, id)
				}
			}
		}
	}
}

// TestRefusalsWithoutPasswords: a refusal whose sentence offers a password
// (a release before registering is finished) is said without one by a server
// that does not use passwords, in each shipped language, in the API's answer.
func TestRefusalsWithoutPasswords(t *testing.T) {
	for _, noPasswords := range []bool{false, true} {
		e := newEnv(t, func(c *keyserver.Config) { c.NoPasswords = noPasswords })
		for lang, word := range passwordWord {
			// The account's language is the one it registered in.
			to := "bob-" + lang + "@patient.example"
			s := e.seal("From: alice@hospital.example\r\n\r\nYour results are normal.\r\n", time.Time{}, to)[0]
			b := e.browser()
			b.lang = lang
			id := s.file.Header.ID.String()
			if st, out := b.call("POST", "/api/v1/register/start", map[string]string{"envelope_id": id, "first_name": "Bob", "last_name": "Patient"}); st != http.StatusAccepted {
				t.Fatalf("register/start: %d %v", st, out)
			}
			if st, out := b.call("POST", "/api/v1/register/verify", map[string]string{"envelope_id": id, "code": e.lastCode(to)}); st != http.StatusOK || out["setup"] != true {
				t.Fatalf("register/verify: %d %v", st, out)
			}
			st, out := b.release(s)
			msg, _ := out["message"].(string)
			if st != http.StatusForbidden || out["error"] != "setup_required" || msg == "" {
				t.Fatalf("release in setup (%s): %d %v", lang, st, out)
			}
			if word.MatchString(msg) == noPasswords {
				t.Errorf("passwords off: %v, in %s: %q", noPasswords, lang, msg)
			}
			want := e.svc.Locale(lang).T("error.setup_required")
			if noPasswords {
				want = e.svc.Locale(lang).T("error.setup_required_nopw")
			}
			if msg != want {
				t.Errorf("passwords off: %v, in %s: %q, want %q", noPasswords, lang, msg, want)
			}
		}
	}
}
