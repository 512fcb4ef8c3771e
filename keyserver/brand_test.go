package keyserver_test

import (
	"bytes"
	"io"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/waxseal/waxseal/brand"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/httpapi"
)

// testBrand is a brand with every detail, its name given by name.
func testBrand(t testing.TB, name string) *brand.Brand {
	t.Helper()
	dir := t.TempDir()
	logo := `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><rect width="8" height="8" fill="#0f5f8a"/></svg>`
	if err := os.WriteFile(filepath.Join(dir, "logo.svg"), []byte(logo), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := brand.Load(brand.Config{Name: name, Logo: "logo.svg", Color: "#0f5f8a",
		MailFrom: "securemail@hospital.example", HelpPhone: "+1 555 0100", HelpEmail: "helpdesk@hospital.example",
		HelpWeb: "https://hospital.example/help", HelpHours: "Mon-Fri 8-18", PrivacyURL: "https://hospital.example/privacy",
		Footer: "1 Example Street"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func withBrand(b *brand.Brand) func(*keyserver.Config) {
	return func(c *keyserver.Config) { c.Brand, c.MailFrom = b, b.Sender.String() }
}

func getPage(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var logoRE = regexp.MustCompile(`<img class="brand-logo" src="(/static/logo\.[0-9a-f]{12}\.svg)"`)

// Every page shows the brand's name, logo and help desk; the logo is served
// under its content's hash, cached for good, and allowed by the pages' CSP.
func TestPagesShowBrand(t *testing.T) {
	b := testBrand(t, "St Example Hospital")
	e := newEnv(t, withBrand(b))
	id := strings.Repeat("ab", 16)
	for _, path := range []string{"/", "/open/" + id, "/e/" + id, "/account", "/sent", "/admin", "/admin/enrol", "/admin/envelopes/" + id, "/admin/envelopes/nonsense"} {
		resp, page := getPage(t, e.srv.URL+path)
		for _, want := range []string{
			"<title>", " \u2013 St Example Hospital</title>",
			`<span class="brand-name">St Example Hospital</span>`,
			`<a class="help-phone" href="tel:&#43;15550100">&#43;1 555 0100</a>`,
			`<a class="help-email" href="mailto:helpdesk@hospital.example">`,
			`<a href="https://hospital.example/privacy">Privacy notice</a>`,
			`<style>:root{--accent:#0f5f8a}</style>`,
		} {
			if !strings.Contains(page, want) {
				t.Errorf("%s: no %q", path, want)
			}
		}
		m := logoRE.FindStringSubmatch(page)
		if m == nil {
			t.Errorf("%s: no logo", path)
			continue
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self'") {
			t.Errorf("%s: CSP %q does not allow the logo", path, csp)
		}
		logo, data := getPage(t, e.srv.URL+m[1])
		if logo.StatusCode != http.StatusOK || data != string(b.Logo.Data) || logo.Header.Get("Content-Type") != "image/svg+xml" ||
			logo.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
			!strings.Contains(logo.Header.Get("Content-Security-Policy"), "sandbox") {
			t.Errorf("logo %s: %d %v %q", m[1], logo.StatusCode, logo.Header, data)
		}
	}
	// Without a brand, the pages are as they were.
	plain := newEnv(t)
	_, page := getPage(t, plain.srv.URL+"/")
	if !strings.Contains(page, `<header class="bar"><span class="brand">Secure messages</span></header>`) ||
		strings.Contains(page, "footer") || strings.Contains(page, "--accent:") {
		t.Errorf("unbranded page:\n%s", page)
	}
}

// A name with markup is shown as text on the pages.
func TestBrandNameEscaped(t *testing.T) {
	e := newEnv(t, withBrand(testBrand(t, `<script>alert(1)</script> "St Ex" & Co`)))
	_, page := getPage(t, e.srv.URL+"/account")
	if strings.Contains(page, "<script>alert") {
		t.Fatalf("the name's markup is in the page:\n%s", page)
	}
	if !strings.Contains(page, `<span class="brand-name">&lt;script&gt;alert(1)&lt;/script&gt; &#34;St Ex&#34; &amp; Co</span>`) {
		t.Errorf("the name is not shown escaped:\n%s", page)
	}
}

// Codes and read receipts come from the one sender identity and end with the
// brand's footer.
func TestMailsCarryBrand(t *testing.T) {
	b := testBrand(t, "St Example Hospital")
	e := newEnv(t, withBrand(b))
	s := e.seal("From: alice@hospital.example\r\n\r\nResults.\r\n", time.Time{}, "bob@patient.example")[0]
	bb := e.browser()
	bb.register(s, "Bob", "Patient")
	bb.open(s)
	check := func(who string) {
		t.Helper()
		mails := e.mailsTo(who)
		if len(mails) == 0 {
			t.Fatalf("no mail to %s", who)
		}
		for _, m := range mails {
			if from := m.Header.Get("From"); from != `"St Example Hospital" <securemail@hospital.example>` {
				t.Errorf("mail to %s: From %q", who, from)
			}
			body, _ := io.ReadAll(quotedprintable.NewReader(m.Body))
			if !bytes.HasSuffix(body, []byte(strings.ReplaceAll(b.TextFooter(), "\n", "\r\n")+"\r\n")) {
				t.Errorf("mail %q to %s does not end with the brand's footer:\n%s", m.Header.Get("Subject"), who, body)
			}
		}
	}
	check("bob@patient.example")    // codes
	check("alice@hospital.example") // the read receipt
}

// BenchmarkPageRender renders pages through the HTTP handler (no network),
// without a brand and with one, in the same run: the brand must cost no
// measurable time (docs/BENCHMARKS.md). B/page is the page's size;
// cpu-µs/page the process's CPU time per page, steadier than wall time on a
// shared machine.
func BenchmarkPageRender(b *testing.B) {
	id := strings.Repeat("ab", 16)
	for _, page := range []string{"/", "/open/" + id, "/account"} {
		for _, withB := range []bool{false, true} {
			name := "brand=none"
			var tweak []func(*keyserver.Config)
			if withB {
				name = "brand=sample"
				tweak = append(tweak, withBrand(testBrand(b, "St Example Hospital")))
			}
			label := strings.Trim(strings.SplitN(page, "/", 3)[1], "/")
			if label == "" {
				label = "home"
			}
			b.Run("page="+label+"/"+name, func(b *testing.B) {
				e := newEnv(b, tweak...)
				h := httpapi.New(e.svc)
				req := httptest.NewRequest("GET", page, nil)
				size, n := 0, 0
				var cpu time.Duration
				for b.Loop() {
					if n == 0 {
						cpu = cpuTime()
					}
					n++
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("%s: %d", page, rec.Code)
					}
					size = rec.Body.Len()
				}
				b.ReportMetric(float64(size), "B/page")
				if cpu > 0 {
					b.ReportMetric(float64(cpuTime()-cpu)/float64(n)/1000, "cpu-µs/page")
				}
			})
		}
	}
}
