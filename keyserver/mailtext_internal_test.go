package keyserver

import (
	"bytes"
	"net/mail"
	"testing"
	"time"
)

// TestMailFromNameIsEncoded: the key server's mails (codes, receipts) write a
// sender name that is not ASCII as an RFC 2047 encoded word, which mail
// readers parse back to the name, whether or not it was configured encoded.
func TestMailFromNameIsEncoded(t *testing.T) {
	const name = "Clínica Señora Ñúñez"
	for _, from := range []string{name + " <noreply@hospital.example>", (&mail.Address{Name: name, Address: "noreply@hospital.example"}).String()} {
		msg := composeMail(from, "bob@patient.example", "Your code", "123456\n", time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC), "hospital.example")
		m, err := mail.ReadMessage(bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		raw := m.Header.Get("From")
		for _, c := range raw {
			if c > 0x7e {
				t.Fatalf("configured %q: From header is not ASCII: %q", from, raw)
			}
		}
		got, err := m.Header.AddressList("From")
		if err != nil || len(got) != 1 || got[0].Name != name || got[0].Address != "noreply@hospital.example" {
			t.Errorf("configured %q: From %q parsed as %v, %v", from, raw, got, err)
		}
	}
}
