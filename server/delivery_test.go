package server

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
	"github.com/waxseal/waxseal/keyserver/client"
	"github.com/waxseal/waxseal/server/spool"
)

// TestDeliveryStates: the real gateway relays a sealed message over loopback
// SMTP to a next hop that takes one recipient's copy, answers 451 for
// another's and 550 for a third's; the key server then shows each envelope
// delivered, queued (with the 451) and refused (with the 550). Once the next
// hop takes the queued copy on a retry, it shows delivered.
func TestDeliveryStates(t *testing.T) {
	e := startGateway(t, gwOptions{})
	ctx := context.Background()
	e.hop.mu.Lock()
	e.hop.refuse = map[string]*smtp.SMTPError{
		"carol@patient.example": {Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted, try again later"},
		"dave@patient.example":  {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<dave@patient.example>: no such user <script>x</script>\x1b[31m\u202e"},
	}
	e.hop.mu.Unlock()
	rcpts := []string{"bob@patient.example", "carol@patient.example", "dave@patient.example"}
	if se := submit(t, e.addr, "alice@hospital.example", rcpts, labMessage("PHI: results")); se != nil {
		t.Fatalf("DATA answered %v", se)
	}
	if err := e.g.FlushDeliveryReports(ctx); err != nil {
		t.Fatal(err)
	}
	states := func() map[string]api.EnvelopeView {
		t.Helper()
		views, err := client.New(e.ks.srv.URL, "admin-token-for-tests-0123456789ab", nil).Envelopes(ctx, api.EnvelopeQuery{Sender: "alice@hospital.example"})
		if err != nil || len(views) != 3 {
			t.Fatalf("%d envelopes (%v)", len(views), err)
		}
		m := map[string]api.EnvelopeView{}
		for _, v := range views {
			m[v.Recipient] = v
		}
		return m
	}
	want := func(m map[string]api.EnvelopeView, rcpt, state, detail string) {
		t.Helper()
		d := m[rcpt].Delivery
		if d == nil || d.State != state || d.Detail != detail || d.At.IsZero() {
			t.Errorf("%s: delivery %+v, want %s %q", rcpt, d, state, detail)
		}
	}
	m := states()
	want(m, "bob@patient.example", keyserver.DeliveryDelivered, "")
	want(m, "carol@patient.example", keyserver.DeliveryQueued, "451 4.7.1 greylisted, try again later")
	want(m, "dave@patient.example", keyserver.DeliveryRefused, "550 5.1.1 <dave@patient.example>: no such user <script>x</script> [31m")

	// Each change has its audit record.
	records := 0
	err := e.ks.store.Audit(ctx, 1, func(r keyserver.AuditRecord) (bool, error) {
		if r.Action == keyserver.ActionEnvelopeDelivery && r.Actor == "gateway" {
			records++
		}
		return true, nil
	})
	if err != nil || records != 3 {
		t.Fatalf("%d delivery audit records (%v), want 3", records, err)
	}

	// The next hop takes carol's copy on the retry.
	e.hop.mu.Lock()
	e.hop.refuse = nil
	e.hop.mu.Unlock()
	e.g.cfg.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if n := e.g.RetryOnce(ctx); n != 1 {
		t.Fatalf("%d delivered from the spool, want 1", n)
	}
	if err := e.g.FlushDeliveryReports(ctx); err != nil {
		t.Fatal(err)
	}
	m = states()
	want(m, "bob@patient.example", keyserver.DeliveryDelivered, "")
	want(m, "carol@patient.example", keyserver.DeliveryDelivered, "")
	want(m, "dave@patient.example", keyserver.DeliveryRefused, "550 5.1.1 <dave@patient.example>: no such user <script>x</script> [31m")
	if n := pendingReports(t, e.spool); n != 0 {
		t.Errorf("%d reports left in the spool after they were sent", n)
	}
}

// TestDeliveryReportsWaitForTheKeyServer: while the key server is away the
// reports stay in the spool, mail still flows, and they arrive once it is back.
func TestDeliveryReportsWaitForTheKeyServer(t *testing.T) {
	e := startGateway(t, gwOptions{})
	ctx := context.Background()
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, labMessage("PHI: results")); se != nil {
		t.Fatalf("DATA answered %v", se)
	}
	// The key server's API goes away (its listener closed) after registration.
	e.ks.srv.Listener.Close()
	e.ks.srv.CloseClientConnections()
	err := e.g.FlushDeliveryReports(ctx)
	if err == nil {
		t.Fatal("reports flushed to a key server that is away")
	}
	if n := pendingReports(t, e.spool); n != 1 {
		t.Fatalf("%d reports spooled, want 1", n)
	}
	if len(e.hop.to("bob@patient.example")) != 1 {
		t.Fatal("the mail did not go out while the key server was away")
	}
	if !strings.Contains(err.Error(), "report 1 deliveries") {
		t.Errorf("error %v", err)
	}
}

// TestDeliveryGivenUp: a copy the next hop keeps answering 4xx for is given
// up after GiveUpAfter (48 hours here); the key server then shows it refused
// with the next hop's last reply as it was and how long the gateway tried as
// a number (gave_up_after, seconds), which each reader's page says in their
// language: no English words of the gateway's in the detail.
func TestDeliveryGivenUp(t *testing.T) {
	e := startGateway(t, gwOptions{})
	ctx := context.Background()
	e.hop.mu.Lock()
	e.hop.refuse = map[string]*smtp.SMTPError{"carol@patient.example": {Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted, try again later"}}
	e.hop.mu.Unlock()
	if se := submit(t, e.addr, "alice@hospital.example", []string{"carol@patient.example"}, labMessage("PHI: results")); se != nil {
		t.Fatalf("DATA answered %v", se)
	}
	e.g.cfg.Now = func() time.Time { return time.Now().Add(49 * time.Hour) }
	if n := e.g.RetryOnce(ctx); n != 0 {
		t.Fatalf("%d delivered from the spool, want 0", n)
	}
	if err := e.g.FlushDeliveryReports(ctx); err != nil {
		t.Fatal(err)
	}
	views, err := client.New(e.ks.srv.URL, "admin-token-for-tests-0123456789ab", nil).Envelopes(ctx, api.EnvelopeQuery{Sender: "alice@hospital.example"})
	if err != nil || len(views) != 1 {
		t.Fatalf("%d envelopes (%v)", len(views), err)
	}
	d := views[0].Delivery
	if d == nil || d.State != keyserver.DeliveryRefused || d.Detail != "451 4.7.1 greylisted, try again later" || d.GaveUpAfter != 48*3600 {
		t.Errorf("delivery %+v, want refused after 172800 s with the 451", d)
	}
	// The audit log keeps its words.
	var details []string
	e.ks.store.Audit(ctx, 1, func(r keyserver.AuditRecord) (bool, error) {
		if r.Action == keyserver.ActionEnvelopeDelivery {
			details = append(details, r.Detail)
		}
		return true, nil
	})
	if len(details) == 0 || details[len(details)-1] != "refused: given up after 48h0m0s: 451 4.7.1 greylisted, try again later" {
		t.Errorf("audit details %q", details)
	}
}

// pendingReports is how many report records the spool holds not yet taken.
func pendingReports(t *testing.T, sp *spool.Spool) int {
	t.Helper()
	recs, _, _, err := sp.ReadReports(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

// TestDeliveryReportsAcrossRestart: the gateway stops without warning (nothing
// flushed or closed, as in a crash) with one report sent and one spooled but
// not sent. The gateway started on the same spool directory sends the second;
// it sends the first again too (reports are handed over at least once: what
// was sent is recorded in memory only), which changes nothing at the key
// server, not even its audit log. A start after that has nothing left to send.
func TestDeliveryReportsAcrossRestart(t *testing.T) {
	e := startGateway(t, gwOptions{})
	ctx := context.Background()
	send := func(rcpt string) {
		t.Helper()
		if se := submit(t, e.addr, "alice@hospital.example", []string{rcpt}, labMessage("PHI: results")); se != nil {
			t.Fatalf("DATA answered %v", se)
		}
	}
	restart := func() *Gateway {
		t.Helper()
		sp, err := spool.Open(e.spool.Dir())
		if err != nil {
			t.Fatal(err)
		}
		cfg := e.g.cfg
		cfg.Spool = sp
		g, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	states := func() (map[string]*api.Delivery, int) {
		t.Helper()
		views, err := client.New(e.ks.srv.URL, "admin-token-for-tests-0123456789ab", nil).Envelopes(ctx, api.EnvelopeQuery{Sender: "alice@hospital.example"})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]*api.Delivery{}
		for _, v := range views {
			m[v.Recipient] = v.Delivery
		}
		records := 0
		err = e.ks.store.Audit(ctx, 1, func(r keyserver.AuditRecord) (bool, error) {
			if r.Action == keyserver.ActionEnvelopeDelivery {
				records++
			}
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return m, records
	}

	send("bob@patient.example")
	if err := e.g.FlushDeliveryReports(ctx); err != nil {
		t.Fatal(err)
	}
	before, records := states()
	if d := before["bob@patient.example"]; d == nil || d.State != keyserver.DeliveryDelivered || records != 1 {
		t.Fatalf("bob: delivery %+v, %d audit records; want delivered, 1", d, records)
	}
	send("carol@patient.example")
	if n := pendingReports(t, e.spool); n != 1 {
		t.Fatalf("%d reports pending once carol's 250 was given, want 1", n)
	}
	if d, _ := states(); d["carol@patient.example"] != nil {
		t.Fatalf("carol: delivery %+v before any report for her was sent", d["carol@patient.example"])
	}

	// The crash, and the next start.
	g2 := restart()
	if n := pendingReports(t, g2.cfg.Spool); n != 2 {
		t.Fatalf("%d reports read after the restart, want 2 (carol's, and bob's again)", n)
	}
	if err := g2.FlushDeliveryReports(ctx); err != nil {
		t.Fatal(err)
	}
	after, records := states()
	if d := after["carol@patient.example"]; d == nil || d.State != keyserver.DeliveryDelivered {
		t.Fatalf("carol after the restart: delivery %+v, want delivered", d)
	}
	b, a := before["bob@patient.example"], after["bob@patient.example"]
	if a == nil || a.State != b.State || a.Detail != b.Detail || !a.At.Equal(b.At) || records != 2 {
		t.Fatalf("bob after his report was sent again: %+v (was %+v), %d audit records; want unchanged, 2 in all", a, b, records)
	}
	if n := pendingReports(t, g2.cfg.Spool); n != 0 {
		t.Fatalf("%d reports pending after the flush", n)
	}
	// The old segment was read whole and removed: nothing to send again.
	if n := pendingReports(t, restart().cfg.Spool); n != 0 {
		t.Fatalf("%d reports read after a second restart, want 0", n)
	}
}

// callsReporter is the key server's client, telling calls each batch of
// delivery reports the key server took.
type callsReporter struct {
	*client.Client
	calls chan []api.DeliveryReport
}

func (c callsReporter) ReportDeliveries(ctx context.Context, rs []api.DeliveryReport) (api.DeliveryResult, error) {
	res, err := c.Client.ReportDeliveries(ctx, rs)
	if err == nil {
		c.calls <- slices.Clone(rs)
	}
	return res, err
}

// TestDeliveryReportsLoop: the gateway's own loop (RunSpool) sends the reports
// of relayed mail without being asked, every message's once.
func TestDeliveryReportsLoop(t *testing.T) {
	calls := make(chan []api.DeliveryReport, 16)
	e := startGateway(t, gwOptions{tweak: func(cfg *Config) {
		cfg.KeyServer = callsReporter{cfg.KeyServer.(*client.Client), calls}
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.g.RunSpool(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	rcpts := []string{"bob@patient.example", "carol@patient.example", "dave@patient.example"}
	for _, r := range rcpts {
		if se := submit(t, e.addr, "alice@hospital.example", []string{r}, labMessage("PHI: results")); se != nil {
			t.Fatalf("DATA answered %v", se)
		}
	}
	seen := map[string]int{}
	timeout := time.After(30 * time.Second)
	for n := 0; n < len(rcpts); {
		select {
		case rs := <-calls:
			if len(rs) == 0 {
				t.Fatal("an empty call")
			}
			for _, r := range rs {
				if r.State != keyserver.DeliveryDelivered {
					t.Errorf("report %+v, want delivered", r)
				}
				seen[r.ID]++
				n++
			}
		case <-timeout:
			t.Fatalf("after 30 s the loop sent %d of %d reports", n, len(rcpts))
		}
	}
	views, err := client.New(e.ks.srv.URL, "admin-token-for-tests-0123456789ab", nil).Envelopes(context.Background(), api.EnvelopeQuery{Sender: "alice@hospital.example"})
	if err != nil || len(views) != len(rcpts) {
		t.Fatalf("%d envelopes (%v)", len(views), err)
	}
	for _, v := range views {
		if seen[v.ID] != 1 || v.Delivery == nil || v.Delivery.State != keyserver.DeliveryDelivered {
			t.Errorf("%s: reported %d times, delivery %+v; want once, delivered", v.Recipient, seen[v.ID], v.Delivery)
		}
	}
}
