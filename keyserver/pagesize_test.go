package keyserver_test

import (
	"bytes"
	"encoding/json"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waxseal/waxseal/brand"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/locale"
)

// pageBudget is what a page may weigh before the decryptor (issue 17): the
// HTML the server answers with, uncompressed, which holds everything inline
// (the brand's <style>, the scripts' strings in <body data-strings>, the
// switcher). The files it links (style.css, the scripts, the decryptor) are
// not counted: they are cached for good under content-hashed names.
const pageBudget = 30 << 10

// largestBrand is a brand with a logo and every text at its longest: the
// heaviest header and footer a page can carry.
func largestBrand(t testing.TB) *brand.Brand {
	t.Helper()
	dir := t.TempDir()
	logo := `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><rect width="8" height="8" fill="#0f5f8a"/></svg>`
	if err := os.WriteFile(filepath.Join(dir, "logo.svg"), []byte(logo), 0o600); err != nil {
		t.Fatal(err)
	}
	long := func(s string, n int) string { return strings.Repeat(s, n/len(s)+1)[:n] }
	b, err := brand.Load(brand.Config{Name: long("St Example Hospital & Clinics ", brand.MaxName), Logo: "logo.svg", Color: "#0f5f8a",
		MailFrom: "securemail@hospital.example", HelpPhone: long("+1 555 0100 ", brand.MaxPhone-1) + "9",
		HelpEmail: "helpdesk@hospital.example", HelpWeb: "https://hospital.example/" + long("help/", brand.MaxURL-25),
		HelpHours: long("Mon-Fri 8-18 ", brand.MaxHours), PrivacyURL: "https://hospital.example/" + long("privacy/", brand.MaxURL-25),
		Footer: long("1 Example Street, Springfield ", brand.MaxFooter)}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if b.Logo == nil {
		t.Fatal("the brand has no logo")
	}
	return b
}

// sizedPage is one page as a person gets it.
type sizedPage struct {
	name string // what the page is, for the report
	html string
}

// allPages fetches every HTML page the key server serves to recipients and
// staff, in language lang: the open page in each of its modes (an envelope
// fetched, opened online, posted and held, posted and put back into the page,
// an unknown id), the console pages (account, sent items, administration,
// enrolment, one message), the home page and the pages that say why a posted
// envelope or an admin link could not be used.
func allPages(t *testing.T, e, inline *env, lang string) []sizedPage {
	t.Helper()
	id := e.seal("results", time.Time{}, "bob@patient.example")[0]
	sid := id.file.Header.ID.String()
	var out []sizedPage
	for _, path := range []string{
		"/", "/open/" + sid, "/e/" + sid, "/open/nonsense",
		"/account", "/sent", "/admin", "/admin/accounts", "/admin/administrators", "/admin/audit",
		"/admin/dashboard", "/admin/enrol", "/admin/envelopes/" + sid, "/admin/envelopes/nonsense",
	} {
		out = append(out, sizedPage{"GET " + strings.Replace(path, sid, "ID", 1), fetchPage(t, e, "GET", path, lang, "", nil)})
	}
	// Posted by securedoc.html's Open button: held by the server, or (no room
	// to hold it) put back into the page, whose fields are the ciphertext
	// itself and are not counted.
	fields := formFields(t, id)
	resp, held := postEnvelopeIn(t, e, sid, fields, lang)
	if resp.StatusCode != http.StatusOK || !heldRE.MatchString(held) {
		t.Fatalf("POST /open: %d, not held", resp.StatusCode)
	}
	out = append(out, sizedPage{"POST /open/ID (held)", held})
	is := inline.seal("results", time.Time{}, "bob@patient.example")[0]
	resp, page := postEnvelopeIn(t, inline, is.file.Header.ID.String(), formFields(t, is), lang)
	if resp.StatusCode != http.StatusOK || heldRE.MatchString(page) || !strings.Contains(page, `id="f-payload"`) {
		t.Fatalf("POST /open without a hold: %d, fields not in the page", resp.StatusCode)
	}
	for _, f := range formFields(t, is) {
		page = strings.Replace(page, `value="`+f+`"`, `value=""`, 1)
	}
	out = append(out, sizedPage{"POST /open/ID (in the page)", page})
	// Refusals of a post: not a form, a form without an envelope, an
	// envelope of another id.
	out = append(out, sizedPage{"POST /open/ID (not a form)", fetchPage(t, e, "POST", "/open/"+sid, lang, "text/plain", strings.NewReader("x"))})
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("version", "1")
	mw.Close()
	out = append(out, sizedPage{"POST /open/ID (bad data)", fetchPage(t, e, "POST", "/open/"+sid, lang, mw.FormDataContentType(), &body)})
	return out
}

// fetchPage answers a request for path in language lang with the page's HTML,
// whatever its status.
func fetchPage(t *testing.T, e *env, method, path, lang, contentType string, body io.Reader) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Language", lang)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Origin", "null")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || resp.Header.Get("Content-Language") != lang {
		t.Fatalf("%s %s in %s: %d %s %s, not a page in it", method, path, lang, resp.StatusCode, ct, resp.Header.Get("Content-Language"))
	}
	return string(b)
}

// TestPagesWithinBudget: every page, in every shipped language, with the
// largest brand the configuration allows (logo and all), on a server with
// passwords and on one without, is at most pageBudget bytes. Run with -v for
// the sizes.
func TestPagesWithinBudget(t *testing.T) {
	b := largestBrand(t)
	noHold := func(c *keyserver.Config) { c.PostedHoldBytes = -1 }
	const pub = "3p4WGzjRj2dO5kfc2WwUnvzW-H5fh1i3m3b5lX1a8nA" // secure replies on: reply.js and its form too
	replies := func(c *keyserver.Config) { c.ReplyPublicKey = pub }
	for _, v := range []struct {
		name string
		tune func(*keyserver.Config)
	}{
		{"passwords", func(*keyserver.Config) {}},
		{"no passwords", func(c *keyserver.Config) { c.NoPasswords = true }},
	} {
		e := newEnv(t, withBrand(b), replies, v.tune)
		inline := newEnv(t, withBrand(b), replies, v.tune, noHold)
		sizes := map[string]map[string]int{}
		var names []string
		langs := []string{"en", "es", "de"}
		for _, lang := range langs {
			for _, p := range allPages(t, e, inline, lang) {
				if sizes[p.name] == nil {
					sizes[p.name] = map[string]int{}
					names = append(names, p.name)
				}
				sizes[p.name][lang] = len(p.html)
				if !strings.Contains(p.html, `class="brand-logo"`) {
					t.Errorf("%s, %s in %s: no logo (the brand is not on it)", v.name, p.name, lang)
				}
				if len(p.html) > pageBudget {
					t.Errorf("%s, %s in %s: %d bytes, over the budget of %d", v.name, p.name, lang, len(p.html), pageBudget)
				}
			}
		}
		t.Logf("%s: page bytes (HTML, uncompressed), en / es / de", v.name)
		for _, n := range names {
			t.Logf("  %-32s %6d %6d %6d", n, sizes[n]["en"], sizes[n]["es"], sizes[n]["de"])
		}
	}
}

// TestOverriddenScriptStrings: an organisation's override of a script's
// message (a file in data_dir/locales) reaches the pages whose scripts name
// it, on a server with passwords and on one without.
func TestOverriddenScriptStrings(t *testing.T) {
	dir := t.TempDir()
	override := "\"js.code_sent\" = \"Le enviamos un código a {to} (Hospital).\"\n\"js.c_revoke\" = \"Anular\"\n"
	if err := os.WriteFile(filepath.Join(dir, "es.toml"), []byte(override), 0o600); err != nil {
		t.Fatal(err)
	}
	cat, err := locale.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, noPw := range []bool{false, true} {
		e := newEnv(t, func(c *keyserver.Config) { c.Locales, c.NoPasswords = cat, noPw })
		for path, want := range map[string]map[string]string{
			"/open/" + strings.Repeat("ab", 16): {"code_sent": "Le enviamos un código a {to} (Hospital)."},
			"/admin":                            {"code_sent": "Le enviamos un código a {to} (Hospital).", "c_revoke": "Anular"},
		} {
			m := dataStringsRE.FindStringSubmatch(fetchPage(t, e, "GET", path, "es", "", nil))
			var got map[string]string
			if m == nil || json.Unmarshal([]byte(html.UnescapeString(m[1])), &got) != nil {
				t.Fatalf("%s: no data-strings", path)
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("no passwords %v, %s: %s = %q, want the override %q", noPw, path, k, got[k], v)
				}
			}
		}
	}
}

// TestOpenPageShipsReplyStringsWithReplies: the open page carries reply.js's
// messages only when secure replies are on (reply.js is loaded only then),
// with passwords and without.
func TestOpenPageShipsReplyStringsWithReplies(t *testing.T) {
	const pub = "3p4WGzjRj2dO5kfc2WwUnvzW-H5fh1i3m3b5lX1a8nA"
	for _, replies := range []bool{false, true} {
		for _, noPw := range []bool{false, true} {
			e := newEnv(t, func(c *keyserver.Config) {
				c.NoPasswords = noPw
				if replies {
					c.ReplyPublicKey = pub
				}
			})
			page := fetchPage(t, e, "GET", "/open/"+strings.Repeat("ab", 16), "es", "", nil)
			m := dataStringsRE.FindStringSubmatch(page)
			var got map[string]string
			if m == nil || json.Unmarshal([]byte(html.UnescapeString(m[1])), &got) != nil {
				t.Fatalf("replies %v, no passwords %v: no data-strings", replies, noPw)
			}
			_, hasReply := got["reply_h"]
			if hasReply != replies || got["code_sent"] == "" || strings.Contains(page, "reply.") != replies {
				t.Errorf("replies %v, no passwords %v: reply_h shipped %v, code_sent %q, reply.js loaded %v",
					replies, noPw, hasReply, got["code_sent"], strings.Contains(page, "reply."))
			}
			if want := map[bool]string{false: "contraseña", true: "Cree una llave de acceso para terminar el registro."}[noPw]; !strings.Contains(got["finish_passkey"], want) {
				t.Errorf("no passwords %v, replies %v: finish_passkey %q, want it to say %q", noPw, replies, got["finish_passkey"], want)
			}
		}
	}
}
