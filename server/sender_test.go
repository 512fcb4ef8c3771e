package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/waxseal/waxseal/keyserver"
)

// From a trusted client network the submitter is MAIL FROM: the key server
// records it as the envelopes' sender, with a different From: header beside it,
// and the confirmation goes to the submitter, not to the header's address.
func TestSubmitterIsSender(t *testing.T) {
	e := startGateway(t, gwOptions{})
	msg := labMessage("PHI: results") // From: Dr. Alice Example <alice@hospital.example>
	if se := submit(t, e.addr, "carol@hospital.example", []string{"bob@patient.example"}, msg); se != nil {
		t.Fatalf("DATA answered %v", se)
	}
	recs, err := e.ks.store.ListEnvelopes(context.Background(), keyserver.EnvelopeQuery{Recipient: "bob@patient.example"})
	if err != nil || len(recs) != 1 {
		t.Fatalf("%d envelopes (%v)", len(recs), err)
	}
	if recs[0].Sender != "carol@hospital.example" || recs[0].HeaderFrom != "alice@hospital.example" {
		t.Errorf("sender %q, header From %q; want the submitter carol, and alice shown as the header's", recs[0].Sender, recs[0].HeaderFrom)
	}
	if n := len(e.hop.to("carol@hospital.example")); n != 1 {
		t.Errorf("the submitter got %d confirmations, want 1", n)
	}
	if n := len(e.hop.to("alice@hospital.example")); n != 0 {
		t.Errorf("the header's From got %d mails, want none", n)
	}
}

// A user who authenticated with an address is the submitter, whatever MAIL FROM
// and From: say; one authenticated under a system name (an MTA) vouches for MAIL
// FROM.
func TestAuthIdentityIsSender(t *testing.T) {
	cert := selfSigned(t)
	e := startGateway(t, gwOptions{tweak: func(c *Config) {
		c.ClientNetworks = nil
		c.Users = map[string]string{"dave@hospital.example": "sha256:" + sha256hex("dave's password"), "mta": "sha256:" + sha256hex("mta password")}
		c.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}})
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	send := func(user, pass, mailFrom, to string) {
		t.Helper()
		c, err := smtp.DialStartTLS(e.addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
			t.Fatal(err)
		}
		if err := c.SendMail(mailFrom, []string{to}, bytes.NewReader(labMessage("PHI: x"))); err != nil {
			t.Fatal(err)
		}
	}
	send("dave@hospital.example", "dave's password", "carol@hospital.example", "bob@patient.example")
	send("mta", "mta password", "carol@hospital.example", "erin@patient.example")
	for rcpt, want := range map[string]string{"bob@patient.example": "dave@hospital.example", "erin@patient.example": "carol@hospital.example"} {
		recs, err := e.ks.store.ListEnvelopes(context.Background(), keyserver.EnvelopeQuery{Recipient: rcpt})
		if err != nil || len(recs) != 1 {
			t.Fatalf("%s: %d envelopes (%v)", rcpt, len(recs), err)
		}
		if recs[0].Sender != want || recs[0].HeaderFrom != "alice@hospital.example" {
			t.Errorf("%s: sender %q, header From %q; want %q and alice's", rcpt, recs[0].Sender, recs[0].HeaderFrom, want)
		}
	}
	if n := len(e.hop.to("dave@hospital.example")); n != 1 {
		t.Errorf("dave, who authenticated, got %d confirmations, want 1", n)
	}
}
