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
)

// postEnvelope posts fields as a securedoc.html's Open button does.
func postEnvelope(t *testing.T, e *env, id string, fields map[string]string) (*http.Response, string) {
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
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var fieldRE = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`)

func TestOpenPageFromPostedEnvelope(t *testing.T) {
	e := newEnv(t)
	s := e.seal(strings.Repeat("confidential ", 10000), time.Time{}, "bob@patient.example")[0]
	var file bytes.Buffer
	if err := s.file.WriteHTML(&file, s.file.EnvKey, bytes.NewReader(s.file.Ciphertext)); err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, m := range fieldRE.FindAllStringSubmatch(file.String(), -1) {
		fields[m[1]] = m[2]
	}
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
	if !strings.Contains(page, `id="f-payload" value="`+fields["payload"]+`"`) {
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
