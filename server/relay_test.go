package server

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver/mailer"
)

// A next hop that answers the end of data later than every other wait still
// gets each copy once: the relay waits for that reply on its own, longer timer
// (RFC 5321's 10 minutes), not on the command timeout.
func TestSlowFinalReplyNoDuplicates(t *testing.T) {
	const command = 100 * time.Millisecond
	e := startGateway(t, gwOptions{relayTimeouts: mailer.PhaseTimeouts{Command: command, FinalReply: time.Minute}})
	// The hop replies to the end of data only after several command timeouts
	// have passed: what is tested is that time passing does no harm.
	e.hop.setHold(func([]string) { <-time.After(5 * command) })
	msg := labMessage("PHI: results")
	if se := submit(t, e.addr, "alice@hospital.example", []string{"carol@hospital.example", "bob@patient.example"}, msg); se != nil {
		t.Fatalf("DATA answered %v, want 250", se)
	}
	for _, r := range []string{"carol@hospital.example", "bob@patient.example", "alice@hospital.example"} {
		if n := len(e.hop.to(r)); n != 1 {
			t.Errorf("%s got %d copies, want 1", r, n)
		}
	}
	if entries, _ := e.spool.List(); len(entries) != 0 {
		t.Errorf("%d copies spooled, want none", len(entries))
	}
}

// A copy whose end of data got no reply is recorded as possibly delivered in
// the spool before it is ever sent again, and the client's message is taken.
func TestFinalReplyTimeoutRecordedPossiblyDelivered(t *testing.T) {
	e := startGateway(t, gwOptions{relayTimeouts: mailer.PhaseTimeouts{FinalReply: 200 * time.Millisecond}})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var mu sync.Mutex
	held := 0
	e.hop.setHold(func(to []string) {
		if len(to) == 1 && to[0] == "bob@patient.example" {
			mu.Lock()
			first := held == 0
			held++
			mu.Unlock()
			if first {
				<-release // never answered while the gateway waits
			}
		}
	})
	msg := labMessage("PHI: results")
	if se := submit(t, e.addr, "alice@hospital.example", []string{"carol@hospital.example", "bob@patient.example"}, msg); se != nil {
		t.Fatalf("DATA answered %v, want 250 (the copy is spooled)", se)
	}
	entries, err := e.spool.List()
	if err != nil || len(entries) != 1 {
		t.Fatalf("spool: %d entries (%v), want the envelope only", len(entries), err)
	}
	en := entries[0]
	if !en.PossiblyDelivered || en.To[0] != "bob@patient.example" {
		t.Fatalf("spooled %+v, want bob's envelope marked possibly delivered", en)
	}
	if !strings.Contains(e.logs.String(), `"possibly_delivered":true`) {
		t.Error("the log does not say the copy was possibly delivered")
	}
	// The retry that follows is the one re-send, and is logged as such.
	e.g.cfg.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if n := e.g.RetryOnce(context.Background()); n != 1 {
		t.Fatalf("delivered %d from the spool, want 1", n)
	}
	if n := len(e.hop.to("bob@patient.example")); n != 1 {
		t.Errorf("bob's copies accepted by the hop after the retry: %d, want 1", n)
	}
}

// The copies of one message travel at once (up to RelayConcurrency), so the
// client's wait is a few next-hop round trips, not one per recipient.
func TestCopiesRelayedConcurrently(t *testing.T) {
	const limit = 10
	e := startGateway(t, gwOptions{tweak: func(c *Config) { c.RelayConcurrency = limit }})
	var (
		mu         sync.Mutex
		waiting    int
		maxWaiting int
		enough     = make(chan struct{}) // closed once limit copies wait together
		giveUp     = make(chan struct{})
	)
	stop := time.AfterFunc(10*time.Second, func() { close(giveUp) })
	t.Cleanup(func() { stop.Stop() })
	e.hop.setHold(func(to []string) {
		if !strings.HasSuffix(to[0], "@patient.example") {
			return
		}
		mu.Lock()
		waiting++
		maxWaiting = max(maxWaiting, waiting)
		if waiting == limit {
			close(enough)
		}
		mu.Unlock()
		// Each reply waits until limit copies are waiting together; relayed one
		// by one they never are, and the test fails instead of hanging.
		select {
		case <-enough:
		case <-giveUp:
		}
		mu.Lock()
		waiting--
		mu.Unlock()
	})
	var rcpts []string
	for i := range 2 * limit {
		rcpts = append(rcpts, fmt.Sprintf("patient%02d@patient.example", i))
	}
	if se := submit(t, e.addr, "alice@hospital.example", rcpts, labMessage("PHI: results")); se != nil {
		t.Fatalf("DATA answered %v, want 250", se)
	}
	mu.Lock()
	defer mu.Unlock()
	if maxWaiting != limit {
		t.Errorf("at most %d copies awaited their reply together, want %d", maxWaiting, limit)
	}
	for _, r := range rcpts {
		if n := len(e.hop.to(r)); n != 1 {
			t.Errorf("%s got %d copies, want 1", r, n)
		}
	}
}
