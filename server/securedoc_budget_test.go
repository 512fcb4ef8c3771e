package server

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waxseal/waxseal/brand"
	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/locale"
)

// noisePNG is a w×w PNG of noise: it hardly compresses, so its bytes grow
// with its side.
func noisePNG(t *testing.T, w int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, w))
	seed := uint32(1)
	for y := range w {
		for x := range w {
			seed = seed*1664525 + 1013904223
			img.Set(x, y, color.NRGBA{uint8(seed >> 24), 80, 160, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestSecuredocBudgetInEveryLanguage: the brand grows a securedoc.html by at
// most brand.SecuredocBudget (12 KB) over the same file without it, in every
// shipped language, as the gateway writes it (its words from the catalog):
// with the sample-sized brand of the tests, and with the heaviest brand
// brand.Load and the gateway accept (the largest logo file allowed, every
// text at its longest, and the longest footer that still passes the checks).
func TestSecuredocBudgetInEveryLanguage(t *testing.T) {
	cat, err := locale.Load("")
	if err != nil {
		t.Fatal(err)
	}
	g := &Gateway{cfg: Config{TimeZone: time.UTC}}
	payload, ct := envelope.EncryptPayload([]byte("Subject: x\r\n\r\nhello\r\n"))
	env, keys, err := payload.Seal(envelope.Header{KeyServer: "https://keys.hospital.example",
		From: "alice@hospital.example", To: "bob@patient.example", Subject: "Your results",
		Created: time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC), Expires: time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	size := func(b *envelope.Branding, w *envelope.Words) int {
		var buf bytes.Buffer
		if err := env.WriteLocalHTML(&buf, keys.Env, bytes.NewReader(ct), b, w); err != nil {
			t.Fatal(err)
		}
		return buf.Len()
	}

	// Every text at its longest, then the largest logo and the longest
	// footer with which Load accepts them: a brand at the edge of the check.
	long := func(s string, n int) string { return strings.Repeat(s, n/len(s)+1)[:n] }
	conf := brand.Config{Name: long("St Example Hospital ", brand.MaxName), Logo: "logo.png", Color: "#0f5f8a",
		MailFrom: "securemail@hospital.example", HelpPhone: "+1 555 0100", HelpEmail: "helpdesk@hospital.example",
		HelpWeb: "https://hospital.example/" + long("help/", brand.MaxURL-25), HelpHours: long("Mon-Fri 8:00-18:00 ", brand.MaxHours),
		PrivacyURL: "https://hospital.example/" + long("privacy/", brand.MaxURL-25)}
	var logos [][]byte
	for side := 8; ; side++ {
		next := noisePNG(t, side)
		if len(next) > brand.MaxLogoBytes {
			break
		}
		logos = append(logos, next)
	}
	words := map[string]*envelope.Words{}
	for _, l := range cat.Languages() {
		words[l.Code()] = g.securedocWords(l)
	}
	// heaviest finds the largest logo and then the longest footer with which
	// accept takes the brand.
	dir := t.TempDir()
	heaviest := func(accept func(*brand.Brand) bool) *brand.Brand {
		for i := len(logos) - 1; i >= 0; i-- {
			if err := os.WriteFile(filepath.Join(dir, "logo.png"), logos[i], 0o600); err != nil {
				t.Fatal(err)
			}
			for n := brand.MaxFooter; n >= 0; n-- {
				conf.Footer = long("1 Example Street ", n)
				if b, err := brand.Load(conf, dir); err == nil && accept(b) {
					return b
				}
			}
		}
		t.Fatal("no brand with a logo is accepted")
		return nil
	}
	// At the edge of brand.Load's check, which counts in English, German
	// and Spanish grow the file more: the gateway refuses it at start-up.
	edge := heaviest(func(*brand.Brand) bool { return true })
	if edge.SecuredocGrowth() < brand.SecuredocBudget-100 {
		t.Fatalf("the heaviest brand Load accepts grows securedoc.html by %d only", edge.SecuredocGrowth())
	}
	if err := securedocBudget(edge, words); err == nil || !strings.Contains(err.Error(), "securedoc.html in ") {
		t.Errorf("a brand over the budget in a language: %v", err)
	}
	accepted := heaviest(func(b *brand.Brand) bool { return securedocBudget(b, words) == nil })
	for _, c := range []struct {
		name string
		b    *brand.Brand
	}{{"sample", testBrand(t)}, {"heaviest accepted", accepted}} {
		for _, l := range cat.Languages() {
			w := g.securedocWords(l)
			grown := size(c.b.Securedoc(), w) - size(nil, w)
			t.Logf("%s brand, %s: +%d bytes (brand.Load counted %d, in English)", c.name, l.Code(), grown, c.b.SecuredocGrowth())
			if grown > brand.SecuredocBudget {
				t.Errorf("%s brand in %s: securedoc.html grows by %d bytes, over %d", c.name, l.Code(), grown, brand.SecuredocBudget)
			}
		}
	}
}
