package server

import (
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// An address the key server would refuse is refused at RCPT, with the reason:
// before, "kate@patient.example." was taken, its registration failed, and the
// whole message (other recipients too) was answered 451 at every retry.
func TestBadRecipientRefusedAtRcpt(t *testing.T) {
	e := startGateway(t, gwOptions{})
	c, err := smtp.Dial(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mta.hospital.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("alice@hospital.example", nil); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ addr, reason string }{
		{"kate@patient.example.", "the domain ends with a dot"},
		{"\u212Aate@patient.example", "Kelvin sign"},
		{"аlice@patient.example", "mixes scripts"},
	} {
		err := c.Rcpt(bad.addr, nil)
		se, ok := err.(*smtp.SMTPError)
		if !ok || se.Code != 553 || !strings.Contains(se.Message, bad.reason) {
			t.Errorf("RCPT %q: %v, want 553 saying %q", bad.addr, err, bad.reason)
		}
	}
	if err := c.Rcpt("kate@patient.example", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write(labMessage("PHI: results"))
	if err := w.Close(); err != nil {
		t.Fatalf("the good recipient's message: %v", err)
	}
	if n := len(e.hop.to("kate@patient.example")); n != 1 {
		t.Errorf("kate got %d copies", n)
	}
}
