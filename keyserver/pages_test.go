package keyserver_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
)

// postEnvelope posts fields as a securedoc.html's Open button does.
func postEnvelope(t *testing.T, e *env, id string, fields map[string]string) (*http.Response, string) {
	t.Helper()
	return postEnvelopeIn(t, e, id, fields, "")
}

// postEnvelopeIn is postEnvelope from a browser asking for language lang
// (Accept-Language; "" for none).
func postEnvelopeIn(t *testing.T, e *env, id string, fields map[string]string, lang string) (*http.Response, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, name := range []string{"version", "header", "key", "payload"} {
		if v, ok := fields[name]; ok {
			mw.WriteField(name, v)
		}
	}
	mw.Close()
	req, _ := http.NewRequest("POST", e.srv.URL+"/open/"+id, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", "null") // a page opened from disk
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var fieldRE = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`)

// formFields are the fields a sealed envelope's securedoc.html posts.
func formFields(t *testing.T, s sealed) map[string]string {
	t.Helper()
	var file bytes.Buffer
	if err := s.file.WriteHTML(&file, s.file.EnvKey, bytes.NewReader(s.file.Ciphertext)); err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, m := range fieldRE.FindAllStringSubmatch(file.String(), -1) {
		fields[m[1]] = m[2]
	}
	return fields
}

var heldRE = regexp.MustCompile(`data-held="([A-Za-z0-9_-]+)"`)

// fetchHeld fetches what the open page of a posted envelope fetches.
func fetchHeld(t *testing.T, e *env, id, token string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(e.srv.URL + "/open/" + id + "/posted/" + token)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 && resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("held envelope: Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
	return resp.StatusCode, b
}

// TestPostedEnvelopeIsHeld follows a securedoc.html's Open button: the key server
// holds the posted envelope and the page fetches it as binary; it opens with the
// key halves to the original, and only under its own id and token.
func TestPostedEnvelopeIsHeld(t *testing.T) {
	e := newEnv(t)
	seals := e.seal("confidential lab results", time.Time{}, "bob@patient.example", "carol@patient.example")
	s, other := seals[0], seals[1]
	id := s.file.Header.ID.String()
	fields := formFields(t, s)
	resp, page := postEnvelope(t, e, id, fields)
	m := heldRE.FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("POST /open: %d, no held token\n%.500s", resp.StatusCode, page)
	}
	if strings.Contains(page, fields["payload"]) {
		t.Error("the page carries the payload although the key server holds it")
	}
	status, blob := fetchHeld(t, e, id, m[1])
	if status != 200 {
		t.Fatalf("GET held: %d %s", status, blob)
	}
	f, err := envelope.ParseOnline(blob, s.file.EnvKey)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.Open(s.serverKey); err != nil || !bytes.Equal(got, s.msg) {
		t.Fatalf("held envelope opens to %q, %v", got, err)
	}
	if bytes.Contains(blob, s.file.EnvKey[:]) {
		t.Error("k_env reached the key server")
	}

	// The token names one envelope; other tokens name nothing.
	otherID := other.file.Header.ID.String()
	if status, _ := fetchHeld(t, e, otherID, m[1]); status != http.StatusNotFound {
		t.Errorf("token under another id: %d, want 404", status)
	}
	if status, body := fetchHeld(t, e, id, "AAAAAAAAAAAAAAAAAAAAAA"); status != http.StatusNotFound || !strings.Contains(string(body), "not_held") {
		t.Errorf("made-up token: %d %s", status, body)
	}
	// Another envelope's fields posted under this id: refused.
	if resp, page := postEnvelope(t, e, id, formFields(t, other)); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "belongs to another message") {
		t.Errorf("foreign fields: %d\n%.300s", resp.StatusCode, page)
	}
	// Held for a while, not for ever.
	e.clock.Add(16 * time.Minute)
	if status, _ := fetchHeld(t, e, id, m[1]); status != http.StatusNotFound {
		t.Errorf("after 16 minutes: %d, want 404", status)
	}
}

// TestPostedHoldIsBounded: a full hold evicts the oldest envelope.
func TestPostedHoldIsBounded(t *testing.T) {
	msg := strings.Repeat("x", 40<<10)
	e := newEnv(t, func(c *keyserver.Config) { c.PostedHoldBytes = 100 << 10 })
	seals := e.seal(msg, time.Time{}, "a@patient.example", "b@patient.example", "c@patient.example")
	var tokens []string
	for _, s := range seals {
		_, page := postEnvelope(t, e, s.file.Header.ID.String(), formFields(t, s))
		m := heldRE.FindStringSubmatch(page)
		if m == nil {
			t.Fatal("not held")
		}
		tokens = append(tokens, m[1])
	}
	for i, want := range []int{404, 200, 200} {
		if status, _ := fetchHeld(t, e, seals[i].file.Header.ID.String(), tokens[i]); status != want {
			t.Errorf("envelope %d: %d, want %d", i, status, want)
		}
	}
}

// TestOpenPageFromPostedEnvelope: with the hold disabled, the page carries the
// posted fields itself.
func TestOpenPageFromPostedEnvelope(t *testing.T) {
	e := newEnv(t, func(c *keyserver.Config) { c.PostedHoldBytes = -1 })
	s := e.seal(strings.Repeat("confidential ", 10000), time.Time{}, "bob@patient.example")[0]
	fields := formFields(t, s)
	id := s.file.Header.ID.String()
	resp, page := postEnvelope(t, e, id, fields)
	if resp.StatusCode != 200 {
		t.Fatalf("POST /open: %d\n%s", resp.StatusCode, page)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self' 'wasm-unsafe-eval'", "frame-ancestors 'none'", "default-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("headers: %v", resp.Header)
	}
	// The ciphertext comes back in the page, byte for byte, and k_env nowhere.
	if m := regexp.MustCompile(`id="f-payload" value="([^"]*)"`).FindStringSubmatch(page); m == nil || m[1] != base64.StdEncoding.EncodeToString(s.file.Ciphertext) {
		t.Error("the posted payload is not in the page as posted")
	}
	if strings.Contains(page, envelopeKeyText(s)) {
		t.Error("k_env reached the key server's page")
	}
	if regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`).MatchString(page) || strings.Contains(page, "<script>") {
		t.Error("the page has an inline script")
	}
	for _, m := range regexp.MustCompile(`<script src="([^"]+)" integrity="(sha384-[^"]+)"`).FindAllStringSubmatch(page, -1) {
		checkAsset(t, e, html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}

	// Damaged or foreign posts get a clear page, not a crash.
	bad := map[string]map[string]string{
		"not base64":      {"version": "1", "header": fields["header"], "key": fields["key"], "payload": `"><script>alert(1)</script>`},
		"no payload":      {"version": "1", "header": fields["header"], "key": fields["key"]},
		"newer version":   {"version": "2", "header": fields["header"], "key": fields["key"], "payload": fields["payload"]},
		"not a securedoc": {"q": "x"},
	}
	for name, f := range bad {
		resp, page := postEnvelope(t, e, id, f)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "could not be read") || strings.Contains(page, "<script>alert") {
			t.Errorf("%s: %d\n%.300s", name, resp.StatusCode, page)
		}
	}
}

func envelopeKeyText(s sealed) string { return base64.RawURLEncoding.EncodeToString(s.file.EnvKey[:]) }

// checkAsset fetches a static asset plain and compressed and checks its integrity.
func checkAsset(t *testing.T, e *env, url, integrity string) {
	t.Helper()
	for _, enc := range []string{"", "gzip", "br"} {
		req, _ := http.NewRequest("GET", e.srv.URL+url, nil)
		req.Header.Set("Accept-Encoding", enc)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
			t.Fatalf("%s (%s): %d %q", url, enc, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
		var body []byte
		switch resp.Header.Get("Content-Encoding") {
		case "gzip":
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(zr)
		case "br":
			body, _ = io.ReadAll(brotli.NewReader(bytes.NewReader(raw)))
		default:
			body = raw
		}
		if enc == "gzip" && resp.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("%s: asked for gzip, got %q", url, resp.Header.Get("Content-Encoding"))
		}
		sum := sha512.Sum384(body)
		if got := "sha384-" + base64.StdEncoding.EncodeToString(sum[:]); got != integrity {
			t.Errorf("%s (%s): integrity %s, page says %s", url, enc, got, integrity)
		}
	}
}

func TestPagesAndStatic(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/", "/e/" + strings.Repeat("a", 32), "/open/" + strings.Repeat("b", 32)} {
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s: %d %v", path, resp.StatusCode, resp.Header)
		}
	}
	resp, err := http.Get(e.srv.URL + "/static/app.0123456789ab.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown static file: %d", resp.StatusCode)
	}
}

// TestPageLoadsReleaseNothing: link scanners and mail previews fetch links and may
// even post forms. None of it releases a key, counts an open or sends a receipt.
func TestPageLoadsReleaseNothing(t *testing.T) {
	e := newEnv(t)
	s := e.seal("lab results", time.Time{}, "bob@patient.example")[0]
	id := s.file.Header.ID.String()
	_, page := postEnvelope(t, e, id, formFields(t, s))
	if m := heldRE.FindStringSubmatch(page); m == nil {
		t.Fatal("not held")
	} else if status, _ := fetchHeld(t, e, id, m[1]); status != 200 {
		t.Fatalf("held: %d", status)
	}
	for _, path := range []string{"/open/" + id, "/e/" + id, "/api/v1/envelopes/" + id + "/payload"} {
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	v, err := e.admin().Envelope(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if v.Releases != 0 || !v.FirstOpen.IsZero() {
		t.Errorf("after page loads: %d releases, first open %v", v.Releases, v.FirstOpen)
	}
	if n := len(e.mailsTo("alice@hospital.example")); n != 0 {
		t.Errorf("after page loads: %d mails to the sender", n)
	}
}
