package server

import (
	"strings"
	"testing"
)

// TestControlCharacterHeaderRefused: a NUL or another control character in a
// header, raw or in an encoded word, is refused with 554; neither the reply nor
// the bounce quotes the header, and nothing is relayed.
func TestControlCharacterHeaderRefused(t *testing.T) {
	e := startGateway(t, gwOptions{})
	for _, subj := range []string{"PHI\x00: secret-lab-values", "=?utf-8?q?PHI=00=3A_secret-lab-values?=", "secret-lab-values\x07"} {
		msg := crlf("From: alice@hospital.example\nTo: bob@patient.example\nSubject: " + subj + "\n\nbody\n")
		se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, msg)
		if se == nil || se.Code != 554 || strings.Contains(se.Message, "secret") || !strings.Contains(se.Message, "Subject") {
			t.Errorf("%q: %v, want 554 naming the field and not quoting it", subj, se)
		}
	}
	if n := len(e.hop.to("bob@patient.example")); n != 0 {
		t.Fatalf("%d copies relayed", n)
	}
	bounces := e.hop.to("alice@hospital.example")
	if len(bounces) != 3 {
		t.Fatalf("%d bounces, want 3", len(bounces))
	}
	for _, b := range bounces {
		if strings.Contains(string(b.Data), "secret") || !strings.Contains(bodyText(t, b.Data), "control character") {
			t.Errorf("bounce quotes the header or lacks the reason:\n%s", b.Data)
		}
	}
}

func TestOversizeText(t *testing.T) {
	g := &Gateway{cfg: Config{MaxMessageBytes: 10 << 20}}
	if got := g.oversize(11744051).reason; got != "Message is 11.2 MB; secure mail is limited to 10 MB" {
		t.Errorf("oversize: %q", got)
	}
}
