package keyserver_test

import (
	"html"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

var (
	scriptTag     = regexp.MustCompile(`<script[^>]*>`)
	inlineHandler = regexp.MustCompile(`\son[a-z]+=`)
	scriptSrc     = regexp.MustCompile(`<script src="(/static/[a-z]+\.[0-9a-f]{12}\.js)" integrity="(sha384-[^"]+)" defer>`)
)

// The account, sent items, admin and enrolment pages are shells: the page policy,
// no inline script, every script this origin's with its integrity.
func TestConsolePages(t *testing.T) {
	e := newEnv(t)
	id := strings.Repeat("c", 32)
	for path, want := range map[string]string{
		"/account":               `data-page="account"`,
		"/sent":                  `data-page="sent"`,
		"/admin":                 `data-page="admin" data-tab="messages"`,
		"/admin/envelopes/" + id: `data-page="admin" data-tab="envelope" data-id="` + id + `"`,
		"/admin/accounts":        `data-page="admin" data-tab="accounts"`,
		"/admin/administrators":  `data-page="admin" data-tab="admins"`,
		"/admin/audit":           `data-page="admin" data-tab="audit"`,
		"/admin/dashboard":       `data-page="admin" data-tab="dashboard"`,
		"/admin/enrol":           `data-page="enrol"`,
	} {
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page := string(b)
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" || !strings.Contains(csp, "script-src 'self' 'wasm-unsafe-eval';") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: %d %v", path, resp.StatusCode, resp.Header)
		}
		if !strings.Contains(page, want) {
			t.Errorf("%s lacks %s", path, want)
		}
		tags := scriptTag.FindAllString(page, -1)
		srcs := scriptSrc.FindAllStringSubmatch(page, -1)
		if len(tags) != 4 || len(srcs) != 4 {
			t.Errorf("%s: scripts %q, want api.js, passkeys.js, signin.js and console.js by src with integrity", path, tags)
		}
		for _, s := range srcs {
			checkAsset(t, e, s[1], html.UnescapeString(s[2]))
		}
		if inlineHandler.MatchString(page) {
			t.Errorf("%s has an inline event handler", path)
		}
	}
	resp, err := http.Get(e.srv.URL + "/admin/envelopes/not-an-id")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("admin page of a malformed id: %d, want 404", resp.StatusCode)
	}
}

// The limits the pages tell people about are the server's configuration, not
// numbers written into the pages or their scripts.
func TestPagesShowConfiguredLimits(t *testing.T) {
	e := newEnv(t, func(c *keyserver.Config) { c.CodeTTL = 15 * time.Minute; c.MinPasswordLen = 12 })
	id := strings.Repeat("c", 32)
	for _, path := range []string{"/account", "/open/" + id} {
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page := string(b)
		for _, want := range []string{`data-code-valid="15 minutes"`, `(at least 12 characters)`, `minlength="12"`} {
			if !strings.Contains(page, want) {
				t.Errorf("%s lacks %s", path, want)
			}
		}
		if strings.Contains(page, "10 characters") || strings.Contains(page, `minlength="10"`) {
			t.Errorf("%s still promises the default password length", path)
		}
		// Nor in the scripts.
		for _, src := range scriptSrc.FindAllStringSubmatch(page, -1) {
			resp, err := http.Get(e.srv.URL + src[1])
			if err != nil {
				t.Fatal(err)
			}
			js, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(js), "10 minutes") || strings.Contains(string(js), "10 characters") {
				t.Errorf("%s has a limit written into it", src[1])
			}
		}
	}
}
