package server

import (
	"context"
	"testing"

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
