package storetest

import (
	"errors"
	"sync"
	"testing"

	"github.com/waxseal/waxseal/keyserver"
)

// createAdmin stores an administrator account.
func createAdmin(t *testing.T, s keyserver.Store, email string) keyserver.Account {
	t.Helper()
	a := account(email)
	a.Role = keyserver.RoleAdmin
	noErr(t, "CreateAccount", s.CreateAccount(t.Context(), a, []keyserver.AuditEvent{event("account.create", 0)}))
	return a
}

func demote(s keyserver.Store, t *testing.T, id string) error {
	_, err := s.UpdateAccount(t.Context(), id, func(a *keyserver.Account) ([]keyserver.AuditEvent, error) {
		a.Role = keyserver.RoleSender
		return []keyserver.AuditEvent{event("admin.remove", 0)}, nil
	})
	return err
}

// testLastAdmin: the store never lets the last administrator go, whether its
// role is taken away or its account deleted, and writes nothing when it refuses.
func testLastAdmin(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	a := createAdmin(t, s, "ada@example.com")
	b := createAdmin(t, s, "bea@example.com")
	c := createAccount(t, s, "cal@example.com") // a sender

	noErr(t, "demote one of two administrators", demote(s, t, a.ID))
	wantErr(t, "demote the last administrator", demote(s, t, b.ID), keyserver.ErrLastAdmin)
	wantErr(t, "delete the last administrator", s.DeleteAccount(ctx, b.ID, []keyserver.AuditEvent{event("account.delete", 0)}), keyserver.ErrLastAdmin)
	got, err := s.Account(ctx, b.ID)
	noErr(t, "Account after the refusals", err)
	if got.Role != keyserver.RoleAdmin {
		t.Errorf("the last administrator's role became %q", got.Role)
	}
	// Other changes to the last administrator, and to everyone else, pass.
	_, err = s.UpdateAccount(ctx, b.ID, func(a *keyserver.Account) ([]keyserver.AuditEvent, error) {
		a.FirstName = "Beatrix"
		return nil, nil
	})
	noErr(t, "rename the last administrator", err)
	noErr(t, "delete a sender", s.DeleteAccount(ctx, c.ID, nil))
	noErr(t, "delete a former administrator", s.DeleteAccount(ctx, a.ID, nil))

	// With another administrator, the former last one goes.
	d := createAdmin(t, s, "dan@example.com")
	noErr(t, "delete one of two administrators", s.DeleteAccount(ctx, b.ID, nil))
	wantErr(t, "delete the last administrator", s.DeleteAccount(ctx, d.ID, nil), keyserver.ErrLastAdmin)
}

// testConcurrentLastAdmin removes every administrator at once, by demotion and
// by deletion: exactly one stays, whatever the interleaving.
func testConcurrentLastAdmin(t *testing.T, s keyserver.Store) {
	const n = 8
	admins := make([]keyserver.Account, n)
	for i := range admins {
		admins[i] = createAdmin(t, s, string(rune('a'+i))+"@example.com")
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, a := range admins {
		wg.Go(func() {
			if i%2 == 0 {
				errs[i] = demote(s, t, a.ID)
			} else {
				errs[i] = s.DeleteAccount(t.Context(), a.ID, nil)
			}
		})
	}
	wg.Wait()
	refused := 0
	for i, err := range errs {
		switch {
		case errors.Is(err, keyserver.ErrLastAdmin):
			refused++
		case err != nil:
			t.Errorf("removing administrator %d: %v", i, err)
		}
	}
	if refused != 1 {
		t.Errorf("%d removals refused, want exactly 1", refused)
	}
	accs, err := s.ListAccounts(t.Context())
	noErr(t, "ListAccounts", err)
	left := 0
	for _, a := range accs {
		if a.Role == keyserver.RoleAdmin {
			left++
		}
	}
	if left != 1 {
		t.Errorf("%d administrators left, want 1", left)
	}
}
