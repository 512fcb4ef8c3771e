package keyserver_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
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
	// Delivery reports: every fourth refused, every fifth delivered (a later
	// report wins: 0, 20, 40… end delivered), every seventh still queued.
	var reports []keyserver.DeliveryReport
	for i := range recs {
		for _, r := range []struct {
			every int
			state string
		}{{7, keyserver.DeliveryQueued}, {4, keyserver.DeliveryRefused}, {5, keyserver.DeliveryDelivered}} {
			if i%r.every == 0 {
				reports = append(reports, keyserver.DeliveryReport{ID: recs[i].ID.String(), State: r.state, At: t0.Add(time.Duration(r.every) * time.Hour)})
			}
		}
	}
	if _, err := e.svc.ReportDeliveries(ctx, reports); err != nil {
		t.Fatal(err)
	}
	delivered := func(i int) bool { return i%5 == 0 }
	refused := func(i int) bool { return i%4 == 0 && !delivered(i) }
	queued := func(i int) bool { return i%7 == 0 && !delivered(i) && !refused(i) }
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
		{"delivered, 6 a page", keyserver.EnvelopeSearch{State: "delivered", EnvelopeQuery: keyserver.EnvelopeQuery{Limit: 6}}, delivered},
		{"refused by the next hop, 4 a page", keyserver.EnvelopeSearch{State: "refused", EnvelopeQuery: keyserver.EnvelopeQuery{Limit: 4}}, refused},
		{"still queued, to the one recipient they all went to", keyserver.EnvelopeSearch{State: "queued",
			EnvelopeQuery: keyserver.EnvelopeQuery{Recipient: "p0@patient.example", Limit: 1}},
			func(i int) bool { return queued(i) && i%7 == 0 }},
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
	// The client (waxseal admin envelopes --state locked) follows the pages.
	views, err := e.admin().Envelopes(t.Context(), api.EnvelopeQuery{State: "locked"})
	if err != nil || len(views) != 1 || views[0].ID != recs[10].ID.String() {
		t.Fatalf("client: %+v, %v; want the locked one", views, err)
	}
	views, err = e.admin().Envelopes(t.Context(), api.EnvelopeQuery{State: "unopened", Limit: 1600})
	if err != nil || len(views) != 1600 || views[0].ID != recs[1999].ID.String() {
		t.Fatalf("client, limit 1600 over pages of 500: %d envelopes, %v", len(views), err)
	}
}

// TestAdminSearchOverHTTP: the console's calls page with "next" and filter
// accounts by words and kind.
func TestAdminSearchOverHTTP(t *testing.T) {
	e := newEnv(t)
	t0 := e.clock.Now().Add(-time.Hour)
	e.putRecords(5, "alice@hospital.example", func(i int) string { return "bob@patient.example" },
		func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) })
	e.putAccount("ad1", "root@hospital.example", keyserver.RoleAdmin)
	e.putAccount("s01", "rooney@hospital.example", keyserver.RoleSender)
	e.putAccount("r01", "bob@patient.example", keyserver.RoleRecipient)
	get := func(path string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	var subjects []string
	after := ""
	for range 5 {
		st, out := get("/api/v1/admin/envelopes?limit=2&subject=results" + after)
		if st != http.StatusOK {
			t.Fatalf("envelopes: %d %v", st, out)
		}
		for _, v := range out["envelopes"].([]any) {
			subjects = append(subjects, v.(map[string]any)["subject"].(string))
		}
		next, _ := out["next"].(string)
		if next == "" {
			break
		}
		after = "&after=" + url.QueryEscape(next)
	}
	if got := strings.Join(subjects, ","); got != "Results 4,Results 3,Results 2,Results 1,Results 0" {
		t.Errorf("pages: %s", got)
	}
	if st, out := get("/api/v1/admin/envelopes?state=gone"); st != http.StatusBadRequest {
		t.Errorf("an unknown state: %d %v", st, out)
	}
	emails := func(path string) string {
		t.Helper()
		st, out := get(path)
		if st != http.StatusOK {
			t.Fatalf("%s: %d %v", path, st, out)
		}
		var got []string
		for _, a := range out["accounts"].([]any) {
			got = append(got, a.(map[string]any)["email"].(string))
		}
		return strings.Join(got, ",")
	}
	if got := emails("/api/v1/admin/accounts?q=ROO"); got != "rooney@hospital.example,root@hospital.example" {
		t.Errorf("accounts with roo: %s", got)
	}
	if got := emails("/api/v1/admin/accounts?q=roo&role=admin"); got != "root@hospital.example" {
		t.Errorf("administrators with roo: %s", got)
	}
	if got := emails("/api/v1/admin/accounts?limit=1"); got != "bob@patient.example" {
		t.Errorf("the first account: %s", got)
	}
	if st, _ := get("/api/v1/admin/accounts?role=root"); st != http.StatusBadRequest {
		t.Errorf("an unknown role: %d", st)
	}
}
