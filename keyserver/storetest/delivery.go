package storetest

import (
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
)

// testSetDeliveries: reports change the envelopes they name in one call, each
// change with its audit record; an unknown envelope is skipped; a repeated or
// older report changes nothing and records nothing; the rest of the record is
// kept.
func testSetDeliveries(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	a := record("alice@example.com", "bob@example.org", at(0))
	b := record("alice@example.com", "carol@example.org", at(0))
	c := record("alice@example.com", "dave@example.org", at(0))
	c.Locked, c.LockReason = true, "held"
	register(t, s, a, b, c)
	log0 := len(auditLog(t, s))

	upd := func(r keyserver.EnvelopeRecord, state, detail string, when time.Duration) keyserver.DeliveryUpdate {
		return keyserver.DeliveryUpdate{ID: r.ID, Delivery: keyserver.Delivery{State: state, Detail: detail, At: at(when)}}
	}
	now := at(time.Hour)
	n, err := s.SetDeliveries(ctx, []keyserver.DeliveryUpdate{
		upd(a, keyserver.DeliveryDelivered, "", time.Minute),
		upd(b, keyserver.DeliveryQueued, "451 4.7.1 try later", time.Minute),
		upd(c, keyserver.DeliveryRefused, "550 5.1.1 no such user", time.Minute),
		{ID: envelope.NewID(), Delivery: keyserver.Delivery{State: keyserver.DeliveryDelivered, At: at(time.Minute)}},
	}, now)
	noErr(t, "SetDeliveries", err)
	if n != 3 {
		t.Errorf("SetDeliveries changed %d envelopes, want 3", n)
	}
	check := func(r keyserver.EnvelopeRecord, state, detail string, when time.Duration) {
		t.Helper()
		got := getEnvelope(t, s, r.ID)
		if got.Delivery == nil || got.Delivery.State != state || got.Delivery.Detail != detail || !got.Delivery.At.Equal(at(when)) {
			t.Errorf("delivery of %s: %+v, want %s %q at %v", r.Recipient, got.Delivery, state, detail, at(when))
		}
		got.Delivery = nil
		equal(t, "the rest of the record", got, r)
	}
	check(a, keyserver.DeliveryDelivered, "", time.Minute)
	check(b, keyserver.DeliveryQueued, "451 4.7.1 try later", time.Minute)
	check(c, keyserver.DeliveryRefused, "550 5.1.1 no such user", time.Minute)
	log := auditLog(t, s)
	if len(log) != log0+3 {
		t.Fatalf("audit has %d records after the reports, want %d", len(log), log0+3)
	}
	for _, r := range log[log0:] {
		if r.Action != keyserver.ActionEnvelopeDelivery || r.Actor != "gateway" || !r.Time.Equal(now) {
			t.Errorf("audit record %+v: want %s by gateway at %v", r.AuditEvent, keyserver.ActionEnvelopeDelivery, now)
		}
	}
	if log[len(log)-1].Detail != "refused: 550 5.1.1 no such user" {
		t.Errorf("last audit detail %q", log[len(log)-1].Detail)
	}

	// The queued copy goes out on a retry; a late, older queued report and a
	// repeated delivered one change nothing.
	n, err = s.SetDeliveries(ctx, []keyserver.DeliveryUpdate{
		upd(b, keyserver.DeliveryDelivered, "", 2*time.Minute),
		upd(a, keyserver.DeliveryDelivered, "", time.Minute),
		upd(c, keyserver.DeliveryQueued, "421 busy", 30*time.Second),
	}, now)
	noErr(t, "SetDeliveries again", err)
	if n != 1 {
		t.Errorf("second SetDeliveries changed %d envelopes, want 1", n)
	}
	check(b, keyserver.DeliveryDelivered, "", 2*time.Minute)
	check(c, keyserver.DeliveryRefused, "550 5.1.1 no such user", time.Minute)
	if got := len(auditLog(t, s)); got != log0+4 {
		t.Errorf("audit has %d records, want %d", got, log0+4)
	}

	// Listings carry the delivery state (Sent items and the administrators'
	// search filter by it), and a later change of the envelope keeps it.
	if _, err := s.UpdateEnvelope(ctx, a.ID, func(r *keyserver.EnvelopeRecord) ([]keyserver.AuditEvent, error) {
		r.Locked, r.LockReason = true, "check"
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	want := map[envelope.ID]string{a.ID: keyserver.DeliveryDelivered, b.ID: keyserver.DeliveryDelivered, c.ID: keyserver.DeliveryRefused}
	for _, q := range []keyserver.EnvelopeQuery{{}, {Sender: "alice@example.com"}, {Recipient: "carol@example.org"}, {Limit: 2}} {
		list, err := s.ListEnvelopes(ctx, q)
		noErr(t, "ListEnvelopes", err)
		for _, r := range list {
			if r.Delivery == nil || r.Delivery.State != want[r.ID] {
				t.Errorf("ListEnvelopes(%+v): %s with delivery %+v, want %s", q, r.Recipient, r.Delivery, want[r.ID])
			}
		}
	}
}
