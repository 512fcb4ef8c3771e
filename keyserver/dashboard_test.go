package keyserver_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// TestStatsAndAuditSearch: the dashboard counts each day's registrations,
// opens (an envelope opened twice counts once), revocations and refusals by
// reason; the audit search filters, pages and starts at a time.
func TestStatsAndAuditSearch(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	admin := keyserver.Caller{Admin: true}
	msg := "From: alice@hospital.example\r\n\r\nResults.\r\n"
	day1 := e.seal(msg, time.Time{}, "bob@patient.example", "bob@patient.example", "bob@patient.example")
	b := e.browser()
	b.register(day1[0], "Bob", "Patient")
	b.open(day1[0])
	b.open(day1[0])

	e.clock.Add(24 * time.Hour)
	day2 := e.clock.Now()
	if _, err := e.svc.Lock(ctx, admin, day1[1].file.Header.ID, "Wrong patient"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Revoke(ctx, admin, day1[2].file.Header.ID); err != nil {
		t.Fatal(err)
	}
	b = e.browser() // a day later: a new session
	if st, out := b.call("POST", "/api/v1/signin/password", map[string]string{"email": "bob@patient.example", "password": password}); st != http.StatusOK {
		t.Fatalf("sign in: %d %v", st, out)
	}
	for _, s := range day1[1:] {
		if st, out := b.release(s); st != http.StatusLocked && st != http.StatusGone {
			t.Fatalf("release of a locked or revoked envelope: %d %v", st, out)
		}
	}

	if _, err := e.svc.Stats(ctx, keyserver.Caller{}, 2); !errors.Is(err, keyserver.ErrForbidden) {
		t.Fatalf("Stats for nobody: %v", err)
	}
	if _, err := e.svc.Stats(ctx, admin, 0); !errors.Is(err, keyserver.ErrBadRequest) {
		t.Fatalf("Stats of 0 days: %v", err)
	}
	// Over the API, as the console will ask.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/api/v1/admin/stats?days=3", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st keyserver.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("stats: %d, %v", resp.StatusCode, err)
	}
	want := []keyserver.DayStats{
		{Day: day2.AddDate(0, 0, -2).Format(time.DateOnly)},
		{Day: day2.AddDate(0, 0, -1).Format(time.DateOnly), Sealed: 3, Opened: 1},
		{Day: day2.Format(time.DateOnly), Revoked: 1, Failed: 2},
	}
	if len(st.Days) != 3 || st.Days[0] != want[0] || st.Days[1] != want[1] || st.Days[2] != want[2] {
		t.Fatalf("days: %+v\nwant %+v", st.Days, want)
	}
	if len(st.Denials) != 2 || st.Denials["locked"] != 1 || st.Denials["revoked"] != 1 {
		t.Fatalf("denials: %v", st.Denials)
	}
	if st.OutboxDepth < 1 { // bob's codes and alice's read receipt, unsent: no mailer runs here
		t.Fatalf("outbox depth %d", st.OutboxDepth)
	}

	// The audit search: by action, from a time, in pages.
	page, err := e.svc.AuditSearch(ctx, admin, keyserver.AuditFilter{Action: keyserver.ActionKeyDeny})
	if err != nil || len(page.Records) != 2 || page.Next != 0 {
		t.Fatalf("key.deny records: %+v, %v", page, err)
	}
	page, err = e.svc.AuditSearch(ctx, admin, keyserver.AuditFilter{Since: day2})
	if err != nil || len(page.Records) != 5 || page.Records[0].Action != keyserver.ActionEnvelopeLock {
		t.Fatalf("records of day 2: %+v, %v; want lock, revoke, sign-in and two refusals", page, err)
	}
	for _, r := range page.Records {
		if r.Time.Before(day2) {
			t.Fatalf("record %d at %v, before %v", r.Seq, r.Time, day2)
		}
	}
	var paged []keyserver.AuditRecord
	f := keyserver.AuditFilter{Since: day2, Limit: 3}
	for range 5 {
		p, err := e.svc.AuditSearch(ctx, admin, f)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, p.Records...)
		if p.Next == 0 {
			break
		}
		f.From = p.Next
	}
	if len(paged) != 5 || paged[0].Seq != page.Records[0].Seq || paged[4].Seq != page.Records[4].Seq {
		t.Fatalf("paged: %d records, want the same 5", len(paged))
	}
	page, err = e.svc.AuditSearch(ctx, admin, keyserver.AuditFilter{Until: day2, Action: keyserver.ActionKeyRelease})
	if err != nil || len(page.Records) != 2 {
		t.Fatalf("releases before day 2: %+v, %v", page, err)
	}
}

// TestAuditSearchSinceFindsTheFirstRecord: the bisection lands on the first
// record at or after the time asked, for every position in logs of several
// lengths (powers of two and not), and on none past the end.
func TestAuditSearchSinceFindsTheFirstRecord(t *testing.T) {
	for _, n := range []int{1, 2, 7, 8, 37} {
		e := newEnv(t)
		ctx := t.Context()
		t0 := e.clock.Now()
		var events []keyserver.AuditEvent
		for i := range n {
			events = append(events, keyserver.AuditEvent{Time: t0.Add(time.Duration(i) * time.Minute), Actor: "system", Action: "test"})
		}
		if err := e.store.AppendAudit(ctx, events); err != nil {
			t.Fatal(err)
		}
		for i := 0; i <= n; i++ {
			since := t0.Add(time.Duration(i)*time.Minute - time.Second)
			page, err := e.svc.AuditSearch(ctx, keyserver.Caller{Admin: true}, keyserver.AuditFilter{Since: since, Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case i == n && len(page.Records) != 0:
				t.Fatalf("log of %d, since after the end: record %d", n, page.Records[0].Seq)
			case i < n && (len(page.Records) != 1 || page.Records[0].Seq != uint64(i+1)):
				t.Fatalf("log of %d, since record %d's time: %+v", n, i+1, page.Records)
			}
		}
	}
}

// TestStatsCountDeliveries: the dashboard counts, per day, the envelopes the
// gateway reported refused and queued (each once a day, however often it
// reported), and how many are still queued: those whose latest report is.
func TestStatsCountDeliveries(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	admin := keyserver.Caller{Admin: true}
	sealed := e.seal("From: alice@hospital.example\r\n\r\nResults.\r\n", time.Time{},
		"a@patient.example", "b@patient.example", "c@patient.example", "d@patient.example")
	id := func(i int) string { return sealed[i].file.Header.ID.String() }
	report := func(reports ...keyserver.DeliveryReport) {
		t.Helper()
		if _, err := e.svc.ReportDeliveries(ctx, reports); err != nil {
			t.Fatal(err)
		}
	}
	day1 := e.clock.Now()
	report(keyserver.DeliveryReport{ID: id(0), State: keyserver.DeliveryDelivered, At: day1},
		keyserver.DeliveryReport{ID: id(1), State: keyserver.DeliveryQueued, Detail: "451 try later", At: day1},
		keyserver.DeliveryReport{ID: id(2), State: keyserver.DeliveryQueued, Detail: "451 try later", At: day1})
	e.clock.Add(time.Minute)
	report(keyserver.DeliveryReport{ID: id(1), State: keyserver.DeliveryQueued, Detail: "421 busy", At: e.clock.Now()},
		keyserver.DeliveryReport{ID: id(3), State: keyserver.DeliveryRefused, Detail: "550 no such user", At: e.clock.Now()})
	e.clock.Add(24 * time.Hour)
	day2 := e.clock.Now()
	// b is still being retried; c went out at last.
	report(keyserver.DeliveryReport{ID: id(1), State: keyserver.DeliveryQueued, Detail: "421 busy", At: day2.Add(-time.Second)},
		keyserver.DeliveryReport{ID: id(1), State: keyserver.DeliveryQueued, Detail: "451 greylisted", At: day2},
		keyserver.DeliveryReport{ID: id(2), State: keyserver.DeliveryDelivered, At: day2})

	st, err := e.svc.Stats(ctx, admin, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []keyserver.DayStats{
		{Day: day1.UTC().Format(time.DateOnly), Sealed: 4, Undelivered: 1, Queued: 2},
		{Day: day2.UTC().Format(time.DateOnly), Queued: 1},
	}
	if len(st.Days) != 2 || st.Days[0] != want[0] || st.Days[1] != want[1] {
		t.Errorf("days: %+v\nwant %+v", st.Days, want)
	}
	if st.StillQueued != 1 {
		t.Errorf("still queued %d, want 1 (b)", st.StillQueued)
	}
}
