package server

import (
	"context"
	"testing"

	"github.com/waxseal/waxseal/keyserver"
)

// The gateway names each message at registration: one name for all its
// recipients' envelopes, another for the next message even with the same
// subject in the same second, so Sent items shows each message once.
func TestGatewayNamesEachMessage(t *testing.T) {
	e := startGateway(t, gwOptions{})
	for range 2 {
		if se := submit(t, e.addr, "carol@hospital.example", []string{"bob@patient.example", "dan@patient.example"}, labMessage("PHI: results")); se != nil {
			t.Fatalf("DATA answered %v", se)
		}
	}
	recs, err := e.ks.store.ListEnvelopes(context.Background(), keyserver.EnvelopeQuery{Sender: "carol@hospital.example"})
	if err != nil || len(recs) != 4 {
		t.Fatalf("%d envelopes (%v)", len(recs), err)
	}
	byName := map[string][]string{}
	for _, r := range recs {
		if r.Message == "" {
			t.Fatalf("envelope %s registered without a message name", r.ID)
		}
		byName[r.Message] = append(byName[r.Message], r.Recipient)
	}
	if len(byName) != 2 {
		t.Fatalf("message names %v, want two, each with both recipients", byName)
	}
	for name, to := range byName {
		if len(to) != 2 || to[0] == to[1] {
			t.Errorf("message %s went to %v", name, to)
		}
	}
	if msgs := keyserver.GroupSent(recs); len(msgs) != 2 {
		t.Errorf("Sent items shows %d entries, want 2", len(msgs))
	}
}
