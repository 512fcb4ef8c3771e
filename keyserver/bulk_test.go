package keyserver_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
	"github.com/waxseal/waxseal/keyserver/client"
)

// putRecords registers n envelopes from sender straight in the store, to
// recipient(i), created at created(i): the batch a busy gateway sends, many at
// the same instant.
func (e *env) putRecords(n int, sender string, recipient func(int) string, created func(int) time.Time) []keyserver.EnvelopeRecord {
	e.t.Helper()
	var recs []keyserver.EnvelopeRecord
	var batch []keyserver.NewEnvelope
	for i := range n {
		r := keyserver.EnvelopeRecord{ID: envelope.NewID(), Sender: sender, Recipient: recipient(i),
			Subject: fmt.Sprintf("Results %d", i), Created: created(i),
			WrappedKey: make([]byte, 48), KeyCheck: make([]byte, 32)}
		rand.Read(r.WrappedKey)
		rand.Read(r.KeyCheck)
		recs = append(recs, r)
		batch = append(batch, keyserver.NewEnvelope{Record: r})
	}
	if err := e.store.PutEnvelopes(e.t.Context(), batch, nil); err != nil {
		e.t.Fatal(err)
	}
	return recs
}

// bulkAudit counts the audit records of each action, and the envelopes each
// names.
func (e *env) bulkAudit() (map[keyserver.AuditAction]int, map[keyserver.AuditAction]map[string]int) {
	e.t.Helper()
	counts := map[keyserver.AuditAction]int{}
	envs := map[keyserver.AuditAction]map[string]int{}
	err := e.svc.Audit(e.t.Context(), keyserver.Caller{Admin: true}, 1, func(r keyserver.AuditRecord) (bool, error) {
		counts[r.Action]++
		if envs[r.Action] == nil {
			envs[r.Action] = map[string]int{}
		}
		envs[r.Action][r.Envelope]++
		return true, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return counts, envs
}

// bulkAll runs req page by page to the end and sums the pages.
func bulkAll(t *testing.T, svc *keyserver.Service, caller keyserver.Caller, req keyserver.BulkRequest) (matched, changed, pages int) {
	t.Helper()
	for {
		res, err := svc.BulkChange(t.Context(), caller, req)
		if err != nil {
			t.Fatalf("BulkChange %+v: %v", req, err)
		}
		if limit := req.Limit; limit > 0 && res.Matched > limit {
			t.Fatalf("a page of %d with limit %d", res.Matched, limit)
		}
		matched, changed, pages = matched+res.Matched, changed+res.Changed, pages+1
		if res.Next == nil {
			return
		}
		req.After = res.Next
	}
}

func TestBulkRevokeAndLock(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	admin := keyserver.Caller{Admin: true, IP: "192.0.2.9"}
	t0 := e.clock.Now()
	// 1,100 from alice, ten at each instant (a page boundary falls inside a
	// group created together); 40 from bob over the same hours.
	alice := e.putRecords(1100, "alice@hospital.example",
		func(i int) string { return fmt.Sprintf("p%d@patient.example", i%7) },
		func(i int) time.Time { return t0.Add(time.Duration(i/10) * time.Minute) })
	bob := e.putRecords(40, "bob@hospital.example",
		func(i int) string { return "p1@patient.example" },
		func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) })

	// Only administrators; never without a filter; lock needs a reason.
	sender := &keyserver.Account{ID: "a", Email: "alice@hospital.example", Role: keyserver.RoleSender}
	if _, err := e.svc.BulkChange(ctx, keyserver.SessionCaller("192.0.2.1", &keyserver.Session{Method: keyserver.SignInPasskey}, sender),
		keyserver.BulkRequest{Action: keyserver.BulkRevoke, Sender: "alice@hospital.example"}); !errors.Is(err, keyserver.ErrForbidden) {
		t.Fatalf("a sender's bulk revoke: %v, want ErrForbidden", err)
	}
	for _, req := range []keyserver.BulkRequest{
		{Action: keyserver.BulkRevoke},
		{Action: keyserver.BulkLock, Sender: "alice@hospital.example"},
		{Action: "delete", Sender: "alice@hospital.example"},
		{Action: keyserver.BulkRevoke, Since: t0.Add(time.Hour), Until: t0},
		{Action: keyserver.BulkRevoke, Sender: "not an address"},
	} {
		if _, err := e.svc.BulkChange(ctx, admin, req); !errors.Is(err, keyserver.ErrBadRequest) {
			t.Errorf("BulkChange %+v: %v, want ErrBadRequest", req, err)
		}
	}

	// A dry run counts every page and changes nothing.
	before, _ := e.bulkAudit()
	matched, changed, pages := bulkAll(t, e.svc, admin, keyserver.BulkRequest{Action: keyserver.BulkRevoke, Sender: "Alice@Hospital.example", DryRun: true})
	if matched != 1100 || changed != 1100 || pages != 3 {
		t.Fatalf("dry run: %d matched, %d to change in %d pages; want 1100, 1100, 3", matched, changed, pages)
	}
	if after, _ := e.bulkAudit(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a dry run wrote audit records: %v, before %v", after, before)
	}

	// Revoke alice's envelopes of an hour, in pages of 70: exactly those, each
	// once, each with one audit record.
	since, until := t0.Add(15*time.Minute), t0.Add(75*time.Minute)
	matched, changed, _ = bulkAll(t, e.svc, admin, keyserver.BulkRequest{Action: keyserver.BulkRevoke,
		Sender: "alice@hospital.example", Since: since, Until: until, Limit: 70})
	if matched != 600 || changed != 600 {
		t.Fatalf("revoke: %d matched, %d changed; want 600, 600", matched, changed)
	}
	_, audited := e.bulkAudit()
	if len(audited[keyserver.ActionEnvelopeRevoke]) != 600 {
		t.Fatalf("%d envelopes with a revoke audit record, want 600", len(audited[keyserver.ActionEnvelopeRevoke]))
	}
	for _, r := range append(alice, bob...) {
		got, err := e.store.Envelope(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		in := r.Sender == "alice@hospital.example" && !r.Created.Before(since) && r.Created.Before(until)
		if revoked := !got.Revoked.IsZero() && len(got.WrappedKey) == 0; revoked != in {
			t.Fatalf("%s from %s created %v: revoked %t, want %t", r.ID, r.Sender, r.Created, revoked, in)
		}
		if n := audited[keyserver.ActionEnvelopeRevoke][r.ID.String()]; in && n != 1 {
			t.Fatalf("%s: %d revoke audit records, want 1", r.ID, n)
		}
	}

	// Again: nothing left to change, nothing audited.
	matched, changed, _ = bulkAll(t, e.svc, admin, keyserver.BulkRequest{Action: keyserver.BulkRevoke,
		Sender: "alice@hospital.example", Since: since, Until: until})
	if matched != 600 || changed != 0 {
		t.Fatalf("revoke again: %d matched, %d changed; want 600, 0", matched, changed)
	}
	if counts, _ := e.bulkAudit(); counts[keyserver.ActionEnvelopeRevoke] != 600 {
		t.Fatalf("%d revoke records after repeating, want 600", counts[keyserver.ActionEnvelopeRevoke])
	}

	// Lock everything to one recipient, from either sender: the recipient is
	// shown the reason.
	matched, changed, _ = bulkAll(t, e.svc, admin, keyserver.BulkRequest{Action: keyserver.BulkLock,
		Recipient: "p1@patient.example", Reason: "Sent to the wrong patient"})
	want := 40
	for i := range alice {
		if i%7 == 1 {
			want++
		}
	}
	if matched != want || changed != want {
		t.Fatalf("lock: %d matched, %d changed; want %d", matched, changed, want)
	}
	got, err := e.store.Envelope(ctx, bob[3].ID)
	if err != nil || !got.Locked || got.LockReason != "Sent to the wrong patient" {
		t.Fatalf("bob's envelope after the bulk lock: %+v, %v", got, err)
	}
	if counts, _ := e.bulkAudit(); counts[keyserver.ActionEnvelopeLock] != want {
		t.Fatalf("%d lock records, want %d", counts[keyserver.ActionEnvelopeLock], want)
	}
}

// TestBulkAPI drives the endpoint as the CLI does: a dry run, then the action,
// page by page with the cursor.
func TestBulkAPI(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	t0 := e.clock.Now()
	e.putRecords(25, "alice@hospital.example",
		func(i int) string { return "bob@patient.example" },
		func(i int) time.Time { return t0.Add(time.Duration(i/5) * time.Second) })
	run := func(req api.BulkRequest) (matched, changed int) {
		t.Helper()
		for range 100 {
			res, err := e.admin().Bulk(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			matched, changed = matched+res.Matched, changed+res.Changed
			if res.Next == "" {
				return
			}
			req.Cursor = res.Next
		}
		t.Fatal("the cursor never ends")
		return
	}
	if m, c := run(api.BulkRequest{Action: "revoke", Sender: "alice@hospital.example", DryRun: true, Limit: 4}); m != 25 || c != 25 {
		t.Fatalf("dry run: %d matched, %d to change; want 25, 25", m, c)
	}
	if m, c := run(api.BulkRequest{Action: "revoke", Sender: "alice@hospital.example", Since: t0.Add(2 * time.Second), Limit: 4}); m != 15 || c != 15 {
		t.Fatalf("revoke: %d matched, %d changed; want 15, 15", m, c)
	}
	views, err := e.admin().Envelopes(ctx, api.EnvelopeQuery{Sender: "alice@hospital.example"})
	if err != nil {
		t.Fatal(err)
	}
	revoked := 0
	for _, v := range views {
		if v.State == "revoked" {
			revoked++
		}
	}
	if revoked != 15 {
		t.Fatalf("%d revoked envelopes listed, want 15", revoked)
	}

	// Refusals: a forged cursor, no filter, the gateway's token.
	for _, c := range []struct {
		name   string
		token  string
		req    api.BulkRequest
		status int
	}{
		{"forged cursor", adminToken, api.BulkRequest{Action: "revoke", Sender: "alice@hospital.example", Cursor: "yesterday"}, http.StatusBadRequest},
		{"no filter", adminToken, api.BulkRequest{Action: "revoke"}, http.StatusBadRequest},
		{"gateway token", gatewayToken, api.BulkRequest{Action: "revoke", Sender: "alice@hospital.example"}, http.StatusUnauthorized},
	} {
		_, err := client.New(e.srv.URL, c.token, nil).Bulk(ctx, c.req)
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.Status != c.status {
			t.Errorf("%s: %v, want status %d", c.name, err, c.status)
		}
	}
}
