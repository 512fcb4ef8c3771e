package keyserver_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// TestSearchEnvelopesPagesThroughFilters: an administrator's search by state
// and subject words pages on with a cursor, each envelope once, newest first,
// and the last page says there is no next one.
func TestSearchEnvelopesPagesThroughFilters(t *testing.T) {
	e := newEnv(t)
	t0 := e.clock.Now().Add(-time.Hour)
	// 120 envelopes a second apart, "Results 0" … "Results 119"; every third
	// is locked.
	recs := e.putRecords(120, "alice@hospital.example", func(i int) string { return fmt.Sprintf("p%d@patient.example", i%7) },
		func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) })
	admin := keyserver.Caller{Admin: true}
	ctx := t.Context()
	for i := 0; i < len(recs); i += 3 {
		if _, err := e.svc.Lock(ctx, admin, recs[i].ID, "check"); err != nil {
			t.Fatal(err)
		}
	}
	// walk lists every page of q, returning the subjects' numbers.
	walk := func(q keyserver.EnvelopeSearch) []string {
		var got []string
		for pages := 0; ; pages++ {
			if pages > 200 {
				t.Fatal("paging does not end")
			}
			page, next, err := e.svc.SearchEnvelopes(ctx, admin, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page {
				got = append(got, strings.TrimPrefix(r.Subject, "Results "))
			}
			if next == nil {
				return got
			}
			if len(page) == 0 {
				t.Fatal("an empty page before the last")
			}
			q.After = next
		}
	}
	want := func(keep func(i int) bool) string {
		var w []string
		for i := len(recs) - 1; i >= 0; i-- {
			if keep(i) {
				w = append(w, fmt.Sprint(i))
			}
		}
		return strings.Join(w, ",")
	}
	for _, tc := range []struct {
		name string
		q    keyserver.EnvelopeSearch
		keep func(int) bool
	}{
		{"all, 7 a page", keyserver.EnvelopeSearch{EnvelopeQuery: keyserver.EnvelopeQuery{Limit: 7}}, func(int) bool { return true }},
		{"locked, 5 a page", keyserver.EnvelopeSearch{State: "locked", EnvelopeQuery: keyserver.EnvelopeQuery{Limit: 5}}, func(i int) bool { return i%3 == 0 }},
		{"live", keyserver.EnvelopeSearch{State: "active", EnvelopeQuery: keyserver.EnvelopeQuery{Limit: 50}}, func(i int) bool { return i%3 != 0 }},
		{"subject words in any case and spacing", keyserver.EnvelopeSearch{Subject: "  results   1", EnvelopeQuery: keyserver.EnvelopeQuery{Limit: 4}},
			func(i int) bool { return strings.HasPrefix(fmt.Sprint(i), "1") }},
		{"subject and state and recipient", keyserver.EnvelopeSearch{Subject: "Results 1", State: "locked",
			EnvelopeQuery: keyserver.EnvelopeQuery{Recipient: "P0@patient.example", Limit: 2}},
			func(i int) bool { return strings.HasPrefix(fmt.Sprint(i), "1") && i%3 == 0 && i%7 == 0 }},
		{"a time range", keyserver.EnvelopeSearch{State: "active", EnvelopeQuery: keyserver.EnvelopeQuery{Since: t0.Add(10 * time.Second), Until: t0.Add(20 * time.Second), Limit: 3}},
			func(i int) bool { return i >= 10 && i < 20 && i%3 != 0 }},
		{"nothing", keyserver.EnvelopeSearch{Subject: "invoice"}, func(int) bool { return false }},
	} {
		if got, w := strings.Join(walk(tc.q), ","), want(tc.keep); got != w {
			t.Errorf("%s: got %s\nwant %s", tc.name, got, w)
		}
	}
	_, _, err := e.svc.SearchEnvelopes(ctx, admin, keyserver.EnvelopeSearch{State: "gone"})
	var bad *keyserver.Error
	if !errors.As(err, &bad) || bad.Code != "bad_request" {
		t.Errorf("an unknown state: %v", err)
	}
	if _, _, err := e.svc.SearchEnvelopes(ctx, keyserver.Caller{Account: &keyserver.Account{Role: keyserver.RoleSender}}, keyserver.EnvelopeSearch{}); !errors.Is(err, keyserver.ErrForbidden) {
		t.Errorf("a sender searched every envelope: %v", err)
	}
}

// TestSentItemsSubjectAndDates: a sender's Sent items filtered by subject
// words and a time range.
func TestSentItemsSubjectAndDates(t *testing.T) {
	e := newEnv(t)
	t0 := e.clock.Now().Add(-time.Hour)
	e.putRecords(30, "alice@hospital.example", func(i int) string { return "bob@patient.example" },
		func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) })
	e.putRecords(5, "mallory@hospital.example", func(i int) string { return "bob@patient.example" },
		func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) })
	alice := keyserver.Caller{Account: &keyserver.Account{Email: "alice@hospital.example", Role: keyserver.RoleSender}}
	list := func(q keyserver.SentQuery) string {
		var got []string
		for {
			msgs, next, err := e.svc.SentMessages(t.Context(), alice, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				got = append(got, strings.TrimPrefix(m.Subject, "Results "))
			}
			if next == nil {
				return strings.Join(got, ",")
			}
			q.After = next
		}
	}
	if got := list(keyserver.SentQuery{Subject: "RESULTS 2", Limit: 3}); got != "29,28,27,26,25,24,23,22,21,20,2" {
		t.Errorf("subject: %s", got)
	}
	if got := list(keyserver.SentQuery{Since: t0.Add(3 * time.Minute), Until: t0.Add(6 * time.Minute), Limit: 1}); got != "5,4,3" {
		t.Errorf("time range: %s", got)
	}
	if got := list(keyserver.SentQuery{Subject: "results 1", Since: t0.Add(12 * time.Minute), Limit: 2}); got != "19,18,17,16,15,14,13,12" {
		t.Errorf("subject and since: %s", got)
	}
	_, _, err := e.svc.SentMessages(t.Context(), alice, keyserver.SentQuery{Since: t0, Until: t0})
	var bad *keyserver.Error
	if !errors.As(err, &bad) || bad.Code != "bad_request" {
		t.Errorf("an empty range: %v", err)
	}
}

// TestSearchEnvelopesScanBound: a filter matching nothing in the newest 1,500
// envelopes answers an empty page with a cursor, and reading on finds the match.
func TestSearchEnvelopesScanBound(t *testing.T) {
	e := newEnv(t)
	t0 := e.clock.Now().Add(-time.Hour)
	recs := e.putRecords(2000, "alice@hospital.example", func(i int) string { return "bob@patient.example" },
		func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) })
	admin := keyserver.Caller{Admin: true}
	if _, err := e.svc.Lock(t.Context(), admin, recs[10].ID, "check"); err != nil {
		t.Fatal(err)
	}
	q := keyserver.EnvelopeSearch{State: "locked", EnvelopeQuery: keyserver.EnvelopeQuery{Limit: 50}}
	page, next, err := e.svc.SearchEnvelopes(t.Context(), admin, q)
	if err != nil || len(page) != 0 || next == nil {
		t.Fatalf("first page: %d envelopes, next %v, %v; want none and a cursor", len(page), next, err)
	}
	q.After = next
	page, next, err = e.svc.SearchEnvelopes(t.Context(), admin, q)
	if err != nil || len(page) != 1 || page[0].ID != recs[10].ID || next != nil {
		t.Fatalf("second page: %d envelopes, next %v, %v; want the locked one, last", len(page), next, err)
	}
}
