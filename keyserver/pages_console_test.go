package keyserver_test

import (
	"html"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
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
		"/admin":                 `data-page="admin"`,
		"/admin/envelopes/" + id: `data-page="admin" data-id="` + id + `"`,
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
		if len(tags) != 3 || len(srcs) != 3 {
			t.Errorf("%s: scripts %q, want api.js, passkeys.js and console.js by src with integrity", path, tags)
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
