package keyserver_test

import (
	"errors"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// TestIdleSweepSkipsTheLastAdmin: the sweeper removes idle accounts but skips
// the last administrator (the store refuses to remove it) and goes on with
// the others; that administrator can still sign in, and then counts as used.
func TestIdleSweepSkipsTheLastAdmin(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.browser().register(e.seal("m", time.Time{}, "alice@hospital.example")[0], "Alice", "Admin")
	a := e.account("alice@hospital.example")
	if _, err := e.store.UpdateAccount(ctx, a.ID, func(acc *keyserver.Account) ([]keyserver.AuditEvent, error) {
		acc.Role = keyserver.RoleAdmin
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	// Listed after Alice (accounts are swept in address order).
	e.putAccount("p1", "zoe@patient.example", keyserver.RoleRecipient)

	e.clock.Add(366 * 24 * time.Hour)
	if _, err := e.svc.Sweep(ctx); err != nil {
		t.Fatalf("sweep with an idle last administrator: %v", err)
	}
	if _, err := e.store.AccountByEmail(ctx, "zoe@patient.example"); !errors.Is(err, keyserver.ErrNotFound) {
		t.Errorf("idle account after the last administrator: %v, want it removed", err)
	}
	if _, err := e.store.AccountByEmail(ctx, "alice@hospital.example"); err != nil {
		t.Fatalf("the last administrator after the sweep: %v", err)
	}
	if _, err := e.svc.SignInPassword(ctx, keyserver.Caller{IP: "192.0.2.1"}, "alice@hospital.example", password); err != nil {
		t.Fatalf("the idle last administrator signs in: %v", err)
	}
	if _, err := e.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
}
