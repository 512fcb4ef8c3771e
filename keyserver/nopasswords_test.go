package keyserver_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/waxseal/waxseal/keyserver"
)

// pageText fetches a page and returns its HTML.
func pageText(t *testing.T, e *env, path string) string {
	t.Helper()
	resp, err := http.Get(e.srv.URL + path)
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

// leftWording is password wording from the message catalogs still on these
// pages: the scripts' messages (data-strings) and the passkey offer's text
// ("instead of a code or password"). Password-free catalog strings are not
// written yet.
var leftWording = regexp.MustCompile(`data-strings="[^"]*"|instead of a code or password`)

// TestPagesWithoutPasswords: a server that does not use passwords (the Worker)
// offers no password field, form or choice on its sign-in, registration and
// account pages, and its markup does not say "password"; the same pages of a
// server with passwords have them (so the check can see them).
func TestPagesWithoutPasswords(t *testing.T) {
	paths := []string{"/e/" + strings.Repeat("a", 32), "/open/" + strings.Repeat("b", 32), "/account", "/sent", "/admin"}
	with := newEnv(t)
	without := newEnv(t, func(c *keyserver.Config) { c.NoPasswords = true })
	for _, path := range paths {
		on := pageText(t, with, path)
		off := pageText(t, without, path)
		if path != "/admin" && !passwordMarkup.MatchString(on) {
			t.Errorf("%s with passwords: no password markup (the check sees nothing)", path)
		}
		for _, at := range passwordMarkup.FindAllStringIndex(off, -1) {
			t.Errorf("%s without passwords: %q", path, off[max(0, at[0]-80):min(len(off), at[1]+40)])
		}
		text := leftWording.ReplaceAllString(off, "")
		for _, at := range regexp.MustCompile(`(?i)password`).FindAllStringIndex(text, -1) {
			t.Errorf("%s without passwords says: %q", path, text[max(0, at[0]-80):min(len(text), at[1]+40)])
		}
		for _, id := range []string{`id="btn-passkey-signin"`, `id="form-code-start"`} {
			if path != "/admin" && !strings.Contains(off, id) {
				t.Errorf("%s without passwords: no %s (passkey and emailed code are the ways in)", path, id)
			}
		}
	}
}
