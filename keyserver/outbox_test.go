package keyserver_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// TestOutboxLeases drives the outbox leases through the service: a leased mail
// is nobody else's until its lease runs out; a report on a lease taken over is
// refused; a report is accepted once; a retry keeps at most 1000 bytes of the
// error.
func TestOutboxLeases(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	gw := keyserver.Caller{IP: "192.0.2.1"}
	id, err := e.store.EnqueueMail(ctx, keyserver.OutboxMail{From: "keys@hospital.example", To: []string{"bob@patient.example"},
		Message: []byte("Subject: code\r\n\r\n123456\r\n"), Created: e.clock.Now(), NextAttempt: e.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}

	first, d, err := e.svc.LeaseMail(ctx, gw, 0, time.Second)
	if err != nil || len(first) != 1 || first[0].ID != id || first[0].Lease == "" {
		t.Fatalf("first lease: %+v, %v", first, err)
	}
	if d != 10*time.Second {
		t.Errorf("a lease of a second lasts %v, want the minimum of 10s", d)
	}
	if again, _, err := e.svc.LeaseMail(ctx, gw, 0, 0); err != nil || len(again) != 0 {
		t.Fatalf("leased mail leased again within its lease: %+v, %v", again, err)
	}

	e.clock.Add(11 * time.Second)
	second, _, err := e.svc.LeaseMail(ctx, gw, 0, 0)
	if err != nil || len(second) != 1 || second[0].Lease == first[0].Lease {
		t.Fatalf("lease after the first ran out: %+v, %v", second, err)
	}
	if err := e.svc.MailDone(ctx, gw, id, first[0].Lease); !errors.Is(err, keyserver.ErrLeaseLost) {
		t.Fatalf("done on a lease taken over: %v, want lease_lost", err)
	}

	next := e.clock.Now()
	if err := e.svc.MailRetry(ctx, gw, id, second[0].Lease, 1, next, strings.Repeat("x", 5000)); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.MailRetry(ctx, gw, id, second[0].Lease, 2, next, "again"); !errors.Is(err, keyserver.ErrLeaseLost) {
		t.Fatalf("second report on one lease: %v, want lease_lost", err)
	}
	due, err := e.store.DueMail(ctx, next, 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("due after the retry: %+v, %v", due, err)
	}
	if due[0].Attempts != 1 || len(due[0].LastError) != 1000 {
		t.Errorf("after the retry: %d attempts, error of %d bytes; want 1 and 1000", due[0].Attempts, len(due[0].LastError))
	}

	third, _, err := e.svc.LeaseMail(ctx, gw, 0, 0)
	if err != nil || len(third) != 1 {
		t.Fatalf("lease after the retry: %+v, %v", third, err)
	}
	if err := e.svc.MailDone(ctx, gw, id, third[0].Lease); err != nil {
		t.Fatal(err)
	}
	if n, err := e.svc.OutboxDepth(ctx); err != nil || n != 0 {
		t.Errorf("depth after done: %d, %v", n, err)
	}
}
