package keyserver_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
	"github.com/waxseal/waxseal/keyserver/client"
)

func TestGroupSentFoldsOneMessagesEnvelopes(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 123, time.UTC)
	rec := func(to, subject string, at time.Time) keyserver.EnvelopeRecord {
		return keyserver.EnvelopeRecord{Sender: "alice@hospital.example", Recipient: to, Subject: subject, Created: at}
	}
	// Newest first, as a listing gives them; the same instant with two subjects
	// interleaves, and a nanosecond apart is another message.
	got := keyserver.GroupSent([]keyserver.EnvelopeRecord{
		rec("a@x.example", "Results", t0),
		rec("b@x.example", "Invoice", t0),
		rec("c@x.example", "Results", t0),
		rec("d@x.example", "Results", t0.Add(-time.Nanosecond)),
	})
	var desc []string
	for _, m := range got {
		var to []string
		for _, r := range m.Envelopes {
			to = append(to, r.Recipient)
		}
		desc = append(desc, m.Subject+":"+strings.Join(to, ","))
	}
	want := "Results:a@x.example,c@x.example Invoice:b@x.example Results:d@x.example"
	if strings.Join(desc, " ") != want {
		t.Errorf("grouped %q, want %q", strings.Join(desc, " "), want)
	}
	// Named messages group by name alone: the same second and subject do not merge them.
	named := func(to, message string) keyserver.EnvelopeRecord {
		r := rec(to, "Results", t0)
		r.Message = message
		return r
	}
	got = keyserver.GroupSent([]keyserver.EnvelopeRecord{named("a@x.example", "m1"), named("b@x.example", "m2"), named("c@x.example", "m1"), rec("d@x.example", "Results", t0)})
	if len(got) != 3 || len(got[0].Envelopes) != 2 || got[0].Envelopes[1].Recipient != "c@x.example" || len(got[1].Envelopes) != 1 || got[2].Envelopes[0].Message != "" {
		t.Errorf("named messages grouped as %+v", got)
	}
	if len(keyserver.GroupSent(nil)) != 0 {
		t.Error("nothing sent grouped into something")
	}
}

func TestSentItemsPerMessageAndSenderLock(t *testing.T) {
	e := newEnv(t)
	e.seal("x", time.Time{}, "bob@patient.example")
	e.clock.Add(time.Minute)
	two := e.seal("y", time.Time{}, "carol@patient.example", "dan@patient.example")
	alice := e.browser()
	alice.call("POST", "/api/v1/register/start", map[string]string{"email": "alice@hospital.example", "first_name": "Alice", "last_name": "Sender"})
	if st, out := alice.call("POST", "/api/v1/register/verify", map[string]string{"email": "alice@hospital.example", "code": e.lastCode("alice@hospital.example")}); st != http.StatusOK {
		t.Fatalf("sender register/verify: %d %v", st, out)
	}
	alice.addPasskey(e.auth(), "Office PC")
	st, out := alice.call("GET", "/api/v1/sent", nil)
	if st != http.StatusOK {
		t.Fatalf("sent: %d %v", st, out)
	}
	msgs := out["messages"].([]any)
	if len(msgs) != 2 || len(out["envelopes"].([]any)) != 3 {
		t.Fatalf("sent: %d messages, %d envelopes, want 2 and 3: %v", len(msgs), len(out["envelopes"].([]any)), out)
	}
	newest := msgs[0].(map[string]any)
	var to []string
	for _, r := range newest["recipients"].([]any) {
		to = append(to, r.(map[string]any)["recipient"].(string))
	}
	if strings.Join(to, ",") != "carol@patient.example,dan@patient.example" || newest["subject"] != "Results" {
		t.Fatalf("newest message: %v", newest)
	}
	// Each copy shows the message's size, from the envelope header the gateway registered.
	for _, r := range newest["recipients"].([]any) {
		if size := r.(map[string]any)["size"]; size != float64(two[0].file.Header.Size) || size == float64(0) {
			t.Errorf("size %v, want %d", size, two[0].file.Header.Size)
		}
	}

	// The sender locks one recipient's copy; that recipient is told why, the other opens.
	id := two[1].file.Header.ID.String()
	st, out = alice.call("POST", "/api/v1/envelopes/"+id+"/lock", map[string]string{"reason": "Wrong patient: please delete"})
	if st != http.StatusOK || out["state"] != "locked" || out["lock_reason"] != "Wrong patient: please delete" {
		t.Fatalf("sender lock: %d %v", st, out)
	}
	dan := e.browser()
	dan.register(two[1], "Dan", "R")
	st, out = dan.release(two[1])
	wantAnswer(t, "release of a locked envelope", st, out, http.StatusLocked, "locked")
	if msg, _ := out["message"].(string); !strings.Contains(msg, "Wrong patient: please delete") {
		t.Errorf("the locked recipient is told %q, want the reason", msg)
	}
	carol := e.browser()
	carol.register(two[0], "Carol", "R")
	if got := carol.open(two[0]); string(got) != "y" {
		t.Errorf("the other recipient opened %q", got)
	}
	// Someone else may not lock it, unlock it or change its expiry.
	for _, action := range []string{"lock", "unlock", "expiry"} {
		st, out = carol.call("POST", "/api/v1/envelopes/"+id+"/"+action, map[string]string{})
		wantAnswer(t, "a recipient's "+action, st, out, http.StatusNotFound, "unknown")
	}
	st, out = alice.call("POST", "/api/v1/envelopes/"+id+"/unlock", nil)
	if st != http.StatusOK || out["state"] != "active" {
		t.Fatalf("sender unlock: %d %v", st, out)
	}
	later := e.clock.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	st, out = alice.call("POST", "/api/v1/envelopes/"+id+"/expiry", map[string]string{"expires": later})
	if st != http.StatusOK || out["expires"] != later {
		t.Fatalf("sender expiry: %d %v", st, out)
	}
}

func TestSentItemsPagesNeverSplitAMessage(t *testing.T) {
	e := newEnv(t)
	a := e.seal("a", time.Time{}, "a1@patient.example", "a2@patient.example", "a3@patient.example")
	e.clock.Add(time.Minute)
	e.seal("b", time.Time{}, "b1@patient.example", "a2@patient.example")
	e.clock.Add(time.Minute)
	e.seal("c", time.Time{}, "c1@patient.example")
	alice := e.browser()
	alice.call("POST", "/api/v1/register/start", map[string]string{"email": "alice@hospital.example", "first_name": "Alice", "last_name": "Sender"})
	alice.call("POST", "/api/v1/register/verify", map[string]string{"email": "alice@hospital.example", "code": e.lastCode("alice@hospital.example")})
	alice.addPasskey(e.auth(), "Office PC")

	// pages lists every page at limit 2: each page as "recipients|recipients".
	pages := func(query string) []string {
		var got []string
		after := ""
		for range 10 {
			st, out := alice.call("GET", "/api/v1/sent?limit=2"+query+after, nil)
			if st != http.StatusOK {
				t.Fatalf("sent page: %d %v", st, out)
			}
			var msgs []string
			for _, m := range out["messages"].([]any) {
				var to []string
				for _, r := range m.(map[string]any)["recipients"].([]any) {
					to = append(to, strings.TrimSuffix(r.(map[string]any)["recipient"].(string), "@patient.example"))
				}
				msgs = append(msgs, strings.Join(to, ","))
			}
			got = append(got, strings.Join(msgs, "|"))
			next, _ := out["next"].(string)
			if next == "" {
				return got
			}
			after = "&after=" + next
		}
		t.Fatal("paging does not end")
		return nil
	}
	if got, want := strings.Join(pages(""), " / "), "c1|a2,b1 / a1,a2,a3"; got != want {
		t.Errorf("pages %q, want %q", got, want)
	}
	if got, want := strings.Join(pages("&recipient=A2@patient.example"), " / "), "a2|a2"; got != want {
		t.Errorf("pages to a2 %q, want %q", got, want)
	}
	// A state filter reads on past pages without a match: the locked copy is on
	// the second page, and the answer is its whole message.
	if st, out := alice.call("POST", "/api/v1/envelopes/"+a[2].file.Header.ID.String()+"/lock", map[string]string{"reason": "r"}); st != http.StatusOK {
		t.Fatalf("lock: %d %v", st, out)
	}
	if got, want := strings.Join(pages("&state=locked"), " / "), "a1,a2,a3"; got != want {
		t.Errorf("locked pages %q, want %q", got, want)
	}
	if got, want := strings.Join(pages("&state=unopened"), " / "), "c1|a2,b1 / a1,a2,a3"; got != want {
		t.Errorf("unopened pages %q, want %q", got, want)
	}
	// Delivery states, as the gateway last reported them: a message shows
	// whole when one copy is in the state.
	gw := client.New(e.srv.URL, gatewayToken, nil)
	now := e.clock.Now()
	if _, err := gw.ReportDeliveries(t.Context(), []api.DeliveryReport{
		{ID: a[0].file.Header.ID.String(), State: "delivered", At: now},
		{ID: a[1].file.Header.ID.String(), State: "refused", Detail: "550 5.1.1 no such user", At: now},
		{ID: a[2].file.Header.ID.String(), State: "queued", Detail: "451 try later", At: now},
	}); err != nil {
		t.Fatal(err)
	}
	for state, want := range map[string]string{"delivered": "a1,a2,a3", "refused": "a1,a2,a3", "queued": "a1,a2,a3"} {
		if got := strings.Join(pages("&state="+state), " / "); got != want {
			t.Errorf("%s pages %q, want %q", state, got, want)
		}
	}
	if got, want := strings.Join(pages("&state=refused&recipient=a2@patient.example"), " / "), "a2"; got != want {
		t.Errorf("refused pages to a2 %q, want %q", got, want)
	}
	if got := strings.Join(pages("&state=refused&recipient=a1@patient.example"), " / "); got != "" {
		t.Errorf("refused pages to a1 %q, want one empty page", got)
	}
	if got := strings.Join(pages("&state=revoked"), " / "); got != "" {
		t.Errorf("revoked pages %q, want one empty page", got)
	}
	st, out := alice.call("GET", "/api/v1/sent?state=gone", nil)
	wantAnswer(t, "an unknown state", st, out, http.StatusBadRequest, "bad_request")
	st, out = alice.call("GET", "/api/v1/sent?after=nonsense", nil)
	wantAnswer(t, "a forged cursor", st, out, http.StatusBadRequest, "bad_request")
	st, out = alice.call("GET", "/api/v1/sent?recipient=not-an-address", nil)
	wantAnswer(t, "a bad recipient", st, out, http.StatusBadRequest, "bad_request")
}

// TestSentItemsGroupByMessageName: two messages with one subject in one second
// are two entries when the gateway names them, and a bad name is refused.
func TestSentItemsGroupByMessageName(t *testing.T) {
	e := newEnv(t)
	register := func(message string, to ...string) error {
		p, _ := envelope.EncryptPayload([]byte("x"))
		var regs []client.Registration
		for _, r := range to {
			en, keys, err := p.Seal(envelope.Header{KeyServer: e.public, From: "alice@hospital.example", To: r, Subject: "Results", Created: e.clock.Now()})
			if err != nil {
				t.Fatal(err)
			}
			regs = append(regs, client.Registration{Envelope: en, ServerKey: keys.Server, Message: message})
		}
		return client.New(e.srv.URL, gatewayToken, nil).RegisterEnvelopes(t.Context(), regs)
	}
	if err := register("q-1", "a@patient.example", "b@patient.example"); err != nil {
		t.Fatal(err)
	}
	if err := register("q-2", "c@patient.example"); err != nil {
		t.Fatal(err)
	}
	if err := register("bad name", "d@patient.example"); err == nil || !strings.Contains(err.Error(), "printable ASCII") {
		t.Errorf("a message name with a space: %v", err)
	}
	msgs, _, err := e.svc.SentMessages(t.Context(), keyserver.Caller{Account: &keyserver.Account{Email: "alice@hospital.example", Role: keyserver.RoleSender}}, keyserver.SentQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var desc []string
	for _, m := range msgs {
		var to []string
		for _, r := range m.Envelopes {
			to = append(to, r.Recipient)
		}
		desc = append(desc, strings.Join(to, ","))
	}
	slices.Sort(desc)
	if got := strings.Join(desc, " "); got != "a@patient.example,b@patient.example c@patient.example" {
		t.Errorf("messages %q", got)
	}
}
