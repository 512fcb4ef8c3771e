package envelope_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/waxseal/waxseal/envelope"
)

// A branded securedoc.html still parses and opens, shows every brand value
// escaped to ASCII, and ignores a colour or link that package brand would
// have refused (the page does not trust its caller with CSS or URLs).
func TestBrandedHTML(t *testing.T) {
	msg := []byte("Subject: x\r\n\r\nhello\r\n")
	payload, ct := envelope.EncryptPayload(msg)
	env, keys, err := payload.Seal(envelope.Header{KeyServer: "https://keys.hospital.example",
		From: "alice@hospital.example", To: "bob@patient.example", Subject: "Results"})
	if err != nil {
		t.Fatal(err)
	}
	var plain, branded bytes.Buffer
	if err := env.WriteHTML(&plain, keys.Env, bytes.NewReader(ct)); err != nil {
		t.Fatal(err)
	}
	b := &envelope.Branding{Name: `Hôpital <script>alert(1)</script>`, LogoType: "image/png", Logo: bytes.Repeat([]byte{0x89, 'P'}, 200),
		Color: "red;}body{display:none", Phone: "+1 555", Tel: "javascript:alert(1)", Web: "https://h.example/?a=1&b=\"2\"",
		Hours: "8–18", Privacy: "http://plain.example/", Footer: "Street 1"}
	if err := env.WriteBrandedHTML(&branded, keys.Env, bytes.NewReader(ct), b); err != nil {
		t.Fatal(err)
	}
	page := branded.String()
	for _, want := range []string{
		"<span>H&#xF4;pital &lt;script&gt;alert(1)&lt;/script&gt;</span>",
		`<img alt="" src="data:image/png;base64,` + "\r\n",
		"background:#1d4ed8;",                                 // the colour was not a colour
		"Help desk: +1 555\r\n",                               // not a tel: link: text only
		`<a href="https://h.example/?a=1&amp;b=&#34;2&#34;">`, // escaped
		"(8&#x2013;18)",
		"<p>Privacy notice</p>", // not https: text only
	} {
		if !strings.Contains(page, want) {
			t.Errorf("branded page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, "display:none") || strings.Contains(page, "javascript:") {
		t.Error("a brand value got into the page unescaped")
	}
	if got, want := branded.Len()-plain.Len(), envelope.BrandingSize(b); got != want {
		t.Errorf("grew by %d, BrandingSize %d", got, want)
	}
	f, err := envelope.ParseHTML(branded.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	opened, err := f.Open(keys.Server)
	if err != nil || !bytes.Equal(opened, msg) {
		t.Fatalf("open branded file: %q, %v", opened, err)
	}
	// Without a brand, the file is byte for byte what it was.
	var none bytes.Buffer
	env.WriteBrandedHTML(&none, keys.Env, bytes.NewReader(ct), nil)
	if !bytes.Equal(none.Bytes(), plain.Bytes()) {
		t.Error("WriteBrandedHTML(nil) differs from WriteHTML")
	}
}
