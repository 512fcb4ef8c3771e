package server

import (
	"bytes"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/waxseal/waxseal/brand"
)

func testBrand(t *testing.T) *brand.Brand {
	t.Helper()
	dir := t.TempDir()
	logo := `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><rect width="8" height="8" fill="#0f5f8a"/></svg>`
	if err := os.WriteFile(filepath.Join(dir, "logo.svg"), []byte(logo), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := brand.Load(brand.Config{Name: `St Example <Hospital>`, Logo: "logo.svg", Color: "#0f5f8a",
		MailFrom: "securemail@hospital.example", HelpPhone: "+1 555 0100", HelpEmail: "helpdesk@hospital.example",
		PrivacyURL: "https://hospital.example/privacy", Footer: "1 Example Street"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMailsCarryBrand: the wrapper mail (its notice and securedoc.html), the
// sender's confirmation, non-delivery notices and bounces all carry the
// organisation's brand, and the gateway's own mail comes from the one sender
// identity.
func TestMailsCarryBrand(t *testing.T) {
	b := testBrand(t)
	from := b.Sender.String()
	e := startGateway(t, gwOptions{tweak: func(c *Config) { c.Brand, c.NotifyFrom = b, from; c.MaxMessageBytes = 64 << 10 }})
	e.hop.mu.Lock()
	e.hop.refuse = map[string]*smtp.SMTPError{"dave@patient.example": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}}
	e.hop.mu.Unlock()
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example", "dave@patient.example"}, labMessage("PHI: results")); se != nil {
		t.Fatal(se)
	}
	footer := strings.TrimRight(b.TextFooter(), "\n")
	endsWithFooter := func(body string) bool {
		return strings.HasSuffix(strings.TrimRight(strings.ReplaceAll(body, "\r\n", "\n"), "\n"), footer)
	}
	wrappers := e.hop.to("bob@patient.example")
	if len(wrappers) != 1 {
		t.Fatalf("%d wrapper mails to bob", len(wrappers))
	}
	_, notice, html, _ := wrapperParts(t, wrappers[0].Data)
	if !endsWithFooter(notice) {
		t.Errorf("wrapper notice does not end with the footer:\n%s", notice)
	}
	if html = strings.ReplaceAll(html, "\r\n", "\n"); !strings.Contains(html, b.HTMLFooter()) || strings.Contains(html, "<Hospital>") {
		t.Errorf("wrapper HTML lacks the footer or shows markup:\n%s", html)
	}
	raw := string(wrappers[0].Data)
	for _, want := range []string{"<span>St Example &lt;Hospital&gt;</span>", `<img alt="" src="data:image/svg+xml;base64,`,
		`<a href="tel:+15550100">+1 555 0100</a>`, "background:#0f5f8a;"} {
		if !strings.Contains(raw, want) {
			t.Errorf("securedoc.html lacks %q", want)
		}
	}

	var confirmation, ndn string
	for _, r := range e.hop.to("alice@hospital.example") {
		m := string(r.Data)
		if !strings.Contains(m, "From: "+from+"\r\n") {
			t.Errorf("notice not from %s:\n%s", from, m)
		}
		body := strings.ReplaceAll(bodyText(t, r.Data), "\r\n", "\n")
		if !endsWithFooter(body) {
			t.Errorf("notice does not end with the footer:\n%s", body)
		}
		switch {
		case strings.Contains(body, "sent securely"):
			confirmation = body
		case strings.Contains(body, "could not be delivered"):
			ndn = body
		}
	}
	if confirmation == "" || ndn == "" {
		t.Fatalf("confirmation %q, non-delivery notice %q", confirmation, ndn)
	}

	// A bounce, too.
	big := append(crlf("From: alice@hospital.example\nTo: bob@patient.example\nSubject: PHI: big\n\n"), []byte(strings.Repeat("0123456789abcde\r\n", 5000))...)
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, big); se == nil {
		t.Fatal("oversize message accepted")
	}
	found := false
	for _, r := range e.hop.to("alice@hospital.example") {
		if body := strings.ReplaceAll(bodyText(t, r.Data), "\r\n", "\n"); strings.Contains(body, "not sent to anyone") {
			found = true
			if !endsWithFooter(body) {
				t.Errorf("bounce does not end with the footer:\n%s", body)
			}
		}
	}
	if !found {
		t.Error("no bounce")
	}
}

// TestNoticeFromNameIsEncoded: a system sender whose name is not ASCII (a
// brand such as "Clínica") is written as an RFC 2047 encoded word in the
// notices' From, which mail readers parse back to the name.
func TestNoticeFromNameIsEncoded(t *testing.T) {
	const name = "Clínica Señora Ñúñez"
	e := startGateway(t, gwOptions{tweak: func(c *Config) { c.NotifyFrom = name + " <securemail@hospital.example>" }})
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, labMessage("PHI: results")); se != nil {
		t.Fatal(se)
	}
	notices := e.hop.to("alice@hospital.example")
	if len(notices) == 0 {
		t.Fatal("no notice to the sender")
	}
	for _, r := range notices {
		m, err := mail.ReadMessage(bytes.NewReader(r.Data))
		if err != nil {
			t.Fatal(err)
		}
		raw := m.Header.Get("From")
		for _, c := range raw {
			if c > 0x7e {
				t.Fatalf("From header is not ASCII: %q", raw)
			}
		}
		from, err := m.Header.AddressList("From")
		if err != nil || len(from) != 1 || from[0].Name != name || from[0].Address != "securemail@hospital.example" {
			t.Errorf("From %q parsed as %v, %v; want %q <securemail@hospital.example>", raw, from, err, name)
		}
	}
}
