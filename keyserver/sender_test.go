package keyserver_test

import (
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/client"
	"github.com/waxseal/waxseal/keyserver/httpapi"
)

// The envelope's sender is who submitted it, not its From: header: Sent items,
// receipts and revoke rights follow the submitter, a different header From is
// kept to be shown as such, receipts go only to the organisation's addresses,
// and a gateway that sends no submitter (older) still registers, by header From.
func TestSenderIsSubmitter(t *testing.T) {
	e := newEnv(t)
	p, ct := envelope.EncryptPayload([]byte("Subject: Results\r\n\r\nhello\r\n"))
	reg := func(from, submitter string) sealed {
		t.Helper()
		en, keys, err := p.Seal(envelope.Header{KeyServer: e.public, From: from, To: "bob@patient.example", Subject: "Results", Created: e.clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		r := client.Registration{Envelope: en, ServerKey: keys.Server, Submitter: submitter}
		if err := client.New(e.srv.URL, gatewayToken, nil).RegisterEnvelopes(t.Context(), []client.Registration{r}); err != nil {
			t.Fatal(err)
		}
		return sealed{file: &envelope.File{Envelope: *en, EnvKey: keys.Env, Ciphertext: ct}, serverKey: keys.Server}
	}
	byCarol := reg("Dr. Alice <alice@hospital.example>", "Carol@hospital.example")
	older := reg("alice@hospital.example", "")
	outside := reg("eve@outside.example", "eve@outside.example")

	for _, c := range []struct {
		s                  sealed
		sender, headerFrom string
	}{{byCarol, "carol@hospital.example", "alice@hospital.example"}, {older, "alice@hospital.example", ""}, {outside, "eve@outside.example", ""}} {
		rec, err := e.store.Envelope(t.Context(), c.s.file.Header.ID)
		if err != nil {
			t.Fatal(err)
		}
		v := httpapi.ViewEnvelope(rec, time.Now())
		if v.Sender != c.sender || v.HeaderFrom != c.headerFrom {
			t.Errorf("recorded sender %q, header From %q; want %q, %q", v.Sender, v.HeaderFrom, c.sender, c.headerFrom)
		}
	}
	if sent, err := e.store.ListEnvelopes(t.Context(), keyserver.EnvelopeQuery{Sender: "alice@hospital.example"}); err != nil || len(sent) != 1 {
		t.Errorf("alice's Sent items hold %d envelopes (%v), want only the older gateway's", len(sent), err)
	}

	b := e.browser()
	b.register(byCarol, "Bob", "Patient")
	b.open(byCarol)
	b.open(older)
	b.open(outside)
	if n := len(e.mailsTo("carol@hospital.example")); n != 1 {
		t.Errorf("carol, the submitter, got %d receipts, want 1", n)
	}
	if n := len(e.mailsTo("alice@hospital.example")); n != 1 {
		t.Errorf("alice got %d receipts, want 1 (for the older gateway's envelope only)", n)
	}
	if n := len(e.mailsTo("eve@outside.example")); n != 0 {
		t.Errorf("a sender outside the organisation got %d receipts", n)
	}
}
