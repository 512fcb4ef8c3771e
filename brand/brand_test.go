package brand_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/waxseal/waxseal/brand"
	"github.com/waxseal/waxseal/envelope"
)

// sample is the [brand] of `waxseal serve --dev` (cmd/waxseal/brand.go).
func sample() brand.Config {
	return brand.Config{
		Name: "St Example Hospital", Logo: "logo.svg", Color: "#0f5f8a",
		MailFrom: "securemail@hospital.example", MailFromName: "St Example Hospital Secure Mail",
		HelpPhone: "+1 555 0100", HelpEmail: "helpdesk@hospital.example", HelpWeb: "https://hospital.example/help",
		HelpHours: "Mon-Fri 8:00-18:00", PrivacyURL: "https://hospital.example/privacy",
		Footer: "St Example Hospital, 1 Example Street, Springfield",
	}
}

func TestLoadSample(t *testing.T) {
	b, err := brand.Load(sample(), "testdata")
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "St Example Hospital" || b.Color != "#0f5f8a" || b.Tel() != "tel:+15550100" {
		t.Errorf("brand = %+v, tel %q", b, b.Tel())
	}
	if b.Logo == nil || b.Logo.Type != "image/svg+xml" || !bytes.HasPrefix(b.Logo.Data, []byte(`<svg xmlns="http://www.w3.org/2000/svg"`)) {
		t.Errorf("logo = %+v", b.Logo)
	}
	if got := b.Sender.String(); got != `"St Example Hospital Secure Mail" <securemail@hospital.example>` {
		t.Errorf("sender = %s", got)
	}
}

func TestLoadEmpty(t *testing.T) {
	b, err := brand.Load(brand.Config{}, "testdata")
	if err != nil || b != nil {
		t.Fatalf("Load(empty) = %v, %v; want nil, nil", b, err)
	}
	// nil is "no brand" everywhere.
	if b.Shown() || b.TextFooter() != "" || b.HTMLFooter() != "" || b.Securedoc() != nil {
		t.Error("a nil brand shows something")
	}
	// mail_from alone changes the sender, nothing shown.
	b, err = brand.Load(brand.Config{MailFrom: "securemail@hospital.example"}, "testdata")
	if err != nil || b.Shown() || b.Sender.Address != "securemail@hospital.example" {
		t.Fatalf("Load(mail_from) = %+v, %v", b, err)
	}
}

func TestLoadRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
		return name
	}
	big := write("big.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><title>`+strings.Repeat("x", brand.MaxLogoBytes)+`</title></svg>`))
	script := write("script.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`))
	gif := write("logo.gif", []byte("GIF89a"))
	fakePNG := write("fake.png", []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`))
	for _, tc := range []struct {
		name string
		edit func(*brand.Config)
		want string
	}{
		{"low contrast", func(c *brand.Config) { c.Color = "#7fb3ff" }, "[brand] color: #7fb3ff: white button text on it has a contrast of 2.14:1, below 4.5:1"},
		{"links unreadable", func(c *brand.Config) { c.Color = "#767676" }, "links in it on the page background (#f3f4f6) have a contrast of 4.13:1"},
		{"not a colour", func(c *brand.Config) { c.Color = "blue" }, `[brand] color: "blue": want a hex colour`},
		{"css injection", func(c *brand.Config) { c.Color = "#000;}body{display:none" }, "want a hex colour"},
		{"no name", func(c *brand.Config) { c.Name = "" }, "[brand] name: required with a logo"},
		{"control character", func(c *brand.Config) { c.Name = "St Example\u202eHospital" }, "holds a control character (U+202E)"},
		{"long name", func(c *brand.Config) { c.Name = strings.Repeat("n", brand.MaxName+1) }, "81 characters, at most 80"},
		{"http", func(c *brand.Config) { c.HelpWeb = "http://hospital.example/help" }, "[brand] help_web: \"http://hospital.example/help\": want an https:// address"},
		{"javascript", func(c *brand.Config) { c.PrivacyURL = "javascript:alert(1)" }, "[brand] privacy_url: \"javascript:alert(1)\": want an https:// address"},
		{"phone without digits", func(c *brand.Config) { c.HelpPhone = "call us" }, `[brand] help_phone: "call us" has no digits`},
		{"phone markup", func(c *brand.Config) { c.HelpPhone = `555 "><b>` }, "only digits, letters, spaces"},
		{"help email with name", func(c *brand.Config) { c.HelpEmail = "Help <help@hospital.example>" }, "want a bare address"},
		{"mail_from with name", func(c *brand.Config) { c.MailFrom = "X <x@hospital.example>" }, "[brand] mail_from: \"X <x@hospital.example>\": want a bare address"},
		{"script in SVG", func(c *brand.Config) { c.Logo = filepath.Join(dir, script) }, "SVG: element <script> is not allowed in a logo"},
		{"logo too large", func(c *brand.Config) { c.Logo = filepath.Join(dir, big) }, "at most 8192 (it is inlined into every securedoc.html)"},
		{"GIF", func(c *brand.Config) { c.Logo = filepath.Join(dir, gif) }, `want a .png, .webp or .svg file, not ".gif"`},
		{"SVG named PNG", func(c *brand.Config) { c.Logo = filepath.Join(dir, fakePNG) }, "not a PNG file"},
		{"missing logo", func(c *brand.Config) { c.Logo = "nowhere.svg" }, "nowhere.svg: no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := sample()
			tc.edit(&c)
			b, err := brand.Load(c, "testdata")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v, %v; want an error with %q", b, err, tc.want)
			}
		})
	}
}

// TestMarkupIsText: a name, footer or hours with markup is data; every place
// that shows it escapes it.
func TestMarkupIsText(t *testing.T) {
	c := sample()
	c.Name = `<script>alert(1)</script> & "Co"`
	c.Footer = `<img src=x onerror=alert(2)>`
	b, err := brand.Load(c, "testdata")
	if err != nil {
		t.Fatal(err)
	}
	h := b.HTMLFooter()
	for _, bad := range []string{"<script", "<img"} {
		if strings.Contains(h, bad) {
			t.Errorf("HTML footer holds %q:\n%s", bad, h)
		}
	}
	if !strings.Contains(h, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;Co&#34;") {
		t.Errorf("HTML footer does not show the name as text:\n%s", h)
	}
	if !strings.Contains(b.TextFooter(), c.Name) {
		t.Errorf("text footer lost the name:\n%s", b.TextFooter())
	}
}

func TestTextFooter(t *testing.T) {
	b, err := brand.Load(sample(), "testdata")
	if err != nil {
		t.Fatal(err)
	}
	want := "\n-- \nSt Example Hospital\n" +
		"Help desk: +1 555 0100 helpdesk@hospital.example https://hospital.example/help (Mon-Fri 8:00-18:00)\n" +
		"Privacy notice: https://hospital.example/privacy\n" +
		"St Example Hospital, 1 Example Street, Springfield\n"
	if got := b.TextFooter(); got != want {
		t.Errorf("TextFooter =\n%q\nwant\n%q", got, want)
	}
}

func TestContrast(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want float64
	}{{"#000000", "#ffffff", 21}, {"#ffffff", "#ffffff", 1}, {"#1d4ed8", "#ffffff", 6.70}, {"#767676", "#ffffff", 4.54}} {
		if got := brand.Contrast(tc.a, tc.b); got < tc.want-0.01 || got > tc.want+0.01 {
			t.Errorf("Contrast(%s, %s) = %.3f, want %.2f", tc.a, tc.b, got, tc.want)
		}
	}
	if c, err := brand.CheckColor("#1D4ED8"); err != nil || c != "#1d4ed8" {
		t.Errorf("CheckColor(#1D4ED8) = %q, %v", c, err)
	}
	if c, err := brand.CheckColor("#036"); err != nil || c != "#003366" {
		t.Errorf("CheckColor(#036) = %q, %v", c, err)
	}
}

func pngLogo(t *testing.T, w, h int, noise bool) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	seed := uint32(1)
	for y := range h {
		for x := range w {
			v := uint8(x * y)
			if noise {
				seed = seed*1664525 + 1013904223
				v = uint8(seed >> 24)
			}
			img.Set(x, y, color.NRGBA{v, 80, 160, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRasterLogos(t *testing.T) {
	if l, err := brand.CheckLogo(pngLogo(t, 40, 40, false), ".png"); err != nil || l.Type != "image/png" {
		t.Errorf("PNG: %v, %v", l, err)
	}
	// A tiny file that declares a huge image is refused before decoding.
	huge := pngLogo(t, 1, 1, false)
	copy(huge[16:24], []byte{0, 0, 0x40, 0, 0, 0, 0x40, 0}) // IHDR width, height 16384
	if _, err := brand.CheckLogo(huge, ".png"); err == nil {
		t.Error("a PNG declaring 16384×16384 pixels was accepted")
	}
	webp := append([]byte("RIFF\x10\x00\x00\x00WEBPVP8L"), 0, 0, 0, 0, 0, 0, 0, 0)
	if l, err := brand.CheckLogo(webp, ".webp"); err != nil || l.Type != "image/webp" {
		t.Errorf("WebP: %v, %v", l, err)
	}
	if _, err := brand.CheckLogo(webp[:len(webp)-1], ".webp"); err == nil || !strings.Contains(err.Error(), "WebP file damaged") {
		t.Errorf("truncated WebP: %v", err)
	}
}

// TestSecuredocBudget: a brand grows securedoc.html by at most 12 KB over an
// unbranded one; Load refuses one that would grow it more.
func TestSecuredocBudget(t *testing.T) {
	render := func(b *envelope.Branding) []byte {
		payload, ct := envelope.EncryptPayload([]byte("Subject: x\r\n\r\nhello\r\n"))
		env, keys, err := payload.Seal(envelope.Header{KeyServer: "https://keys.hospital.example",
			From: "alice@hospital.example", To: "bob@patient.example", Subject: "Your results"})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := env.WriteBrandedHTML(&buf, keys.Env, bytes.NewReader(ct), b); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	plain := len(render(nil))
	b, err := brand.Load(sample(), "testdata")
	if err != nil {
		t.Fatal(err)
	}
	grown := len(render(b.Securedoc())) - plain
	t.Logf("securedoc.html: %d bytes unbranded, +%d with the sample brand", plain, grown)
	if grown != b.SecuredocGrowth() || grown > brand.SecuredocBudget {
		t.Errorf("growth %d, SecuredocGrowth %d, budget %d", grown, b.SecuredocGrowth(), brand.SecuredocBudget)
	}

	// The largest logo allowed, with long texts: within the budget, or refused.
	dir := t.TempDir()
	var logo []byte
	for side := 8; ; side++ {
		next := pngLogo(t, side, side, true)
		if len(next) > brand.MaxLogoBytes {
			break
		}
		logo = next
	}
	os.WriteFile(filepath.Join(dir, "logo.png"), logo, 0o600)
	c := sample()
	c.Logo = "logo.png"
	c.Footer = strings.Repeat("é", brand.MaxFooter)
	b, err = brand.Load(c, dir)
	if err == nil {
		t.Fatalf("a %d-byte logo and a footer of 300 × é were accepted: growth %d", len(logo), b.SecuredocGrowth())
	}
	if !strings.Contains(err.Error(), "securedoc.html would grow by") {
		t.Fatalf("error %v", err)
	}
	c.Footer = sample().Footer
	if b, err = brand.Load(c, dir); err != nil {
		t.Fatalf("a %d-byte logo with the sample texts: %v", len(logo), err)
	}
	if grown := len(render(b.Securedoc())) - plain; grown > brand.SecuredocBudget {
		t.Errorf("the largest logo grows securedoc.html by %d", grown)
	}
}
