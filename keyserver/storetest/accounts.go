package storetest

import (
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// account has every field set.
func account(email string) keyserver.Account {
	return keyserver.Account{
		ID:           hex.EncodeToString(randBytes(16)),
		Email:        email,
		FirstName:    "Zoë",
		LastName:     "O'Brien",
		Role:         keyserver.RoleSender,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
		Created:      at(-24 * time.Hour),
		LastUsed:     at(-time.Hour),
		UserHandle:   randBytes(32),
		Credentials: []keyserver.Credential{{
			ID:        randBytes(16),
			Name:      "laptop",
			PublicKey: randBytes(77),
			SignCount: 12,
			Backup:    true,
			Created:   at(-23 * time.Hour),
			LastUsed:  at(-2 * time.Hour),
			Raw:       randBytes(200),
		}, {
			ID:        randBytes(16),
			Name:      "phone",
			PublicKey: randBytes(77),
			SignCount: 1,
			Backup:    true,
			Created:   at(-22 * time.Hour),
			LastUsed:  at(-3 * time.Hour),
			Raw:       randBytes(10),
		}},
		FailedSignIns: 2,
		LockedUntil:   at(time.Minute),
		Disabled:      true,
		Language:      "es",
	}
}

func createAccount(t *testing.T, s keyserver.Store, email string) keyserver.Account {
	t.Helper()
	a := account(email)
	noErr(t, "CreateAccount", s.CreateAccount(t.Context(), a, []keyserver.AuditEvent{event("account.create", 0)}))
	return a
}

func testAccounts(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	a := createAccount(t, s, "zoe@example.com")

	got, err := s.Account(ctx, a.ID)
	noErr(t, "Account", err)
	equal(t, "Account", got, a)
	got, err = s.AccountByEmail(ctx, a.Email)
	noErr(t, "AccountByEmail", err)
	equal(t, "AccountByEmail", got, a)

	_, err = s.Account(ctx, "0000")
	wantErr(t, "Account unknown", err, keyserver.ErrNotFound)
	_, err = s.AccountByEmail(ctx, "nobody@example.com")
	wantErr(t, "AccountByEmail unknown", err, keyserver.ErrNotFound)
	_, err = s.AccountByEmail(ctx, "zoe@example.co")
	wantErr(t, "AccountByEmail of a prefix", err, keyserver.ErrNotFound)
}

func testAccountConflict(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	a := createAccount(t, s, "zoe@example.com")
	dup := account(a.Email)
	err := s.CreateAccount(ctx, dup, []keyserver.AuditEvent{event("account.create", 1)})
	wantErr(t, "CreateAccount with a taken email", err, keyserver.ErrConflict)

	_, err = s.Account(ctx, dup.ID)
	wantErr(t, "Account refused", err, keyserver.ErrNotFound)
	got, err := s.AccountByEmail(ctx, a.Email)
	noErr(t, "AccountByEmail", err)
	equal(t, "account after a conflicting CreateAccount", got, a)
	if n := len(auditLog(t, s)); n != 1 {
		t.Errorf("audit has %d records, want 1: the refused account is not logged", n)
	}
}

func testUpdateAccount(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	a := createAccount(t, s, "zoe@example.com")

	want := a
	want.FailedSignIns = 0
	want.LockedUntil = time.Time{}
	want.LastUsed = at(time.Hour)
	want.Role = keyserver.RoleAdmin
	want.Disabled = false
	want.Credentials = append([]keyserver.Credential(nil), a.Credentials...)
	want.Credentials[0].SignCount = 13
	ev := event("signin.ok", 1)
	got, err := s.UpdateAccount(ctx, a.ID, func(acc *keyserver.Account) ([]keyserver.AuditEvent, error) {
		acc.FailedSignIns = 0
		acc.LockedUntil = time.Time{}
		acc.LastUsed = want.LastUsed
		acc.Role = keyserver.RoleAdmin
		acc.Disabled = false
		acc.Credentials[0].SignCount = 13
		return []keyserver.AuditEvent{ev}, nil
	})
	noErr(t, "UpdateAccount", err)
	equal(t, "UpdateAccount result", got, want)
	got, err = s.AccountByEmail(ctx, a.Email)
	noErr(t, "AccountByEmail", err)
	equal(t, "account after UpdateAccount", got, want)
	if !got.LockedUntil.IsZero() {
		t.Errorf("LockedUntil = %v, want zero", got.LockedUntil)
	}

	_, err = s.UpdateAccount(ctx, a.ID, func(acc *keyserver.Account) ([]keyserver.AuditEvent, error) {
		acc.FailedSignIns = 5
		acc.Credentials = nil
		return []keyserver.AuditEvent{event("signin.fail", 2)}, fmt.Errorf("wrapped: %w", errFn)
	})
	wantErr(t, "UpdateAccount with fn failing", err, errFn)
	got, err = s.Account(ctx, a.ID)
	noErr(t, "Account", err)
	equal(t, "account after fn failed", got, want)

	_, err = s.UpdateAccount(ctx, "0000", func(*keyserver.Account) ([]keyserver.AuditEvent, error) {
		t.Error("fn called for an unknown account")
		return nil, nil
	})
	wantErr(t, "UpdateAccount unknown", err, keyserver.ErrNotFound)

	log := auditLog(t, s)
	if len(log) != 2 {
		t.Fatalf("audit has %d records, want 2", len(log))
	}
	equal(t, "audit event of UpdateAccount", log[1].AuditEvent, ev)
}

func testDeleteAccount(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	a := createAccount(t, s, "zoe@example.com")
	b := createAccount(t, s, "yan@example.com")
	sa, sb := session(a.ID, at(0)), session(b.ID, at(0))
	noErr(t, "PutSession", s.PutSession(ctx, sa))
	noErr(t, "PutSession", s.PutSession(ctx, sb))

	noErr(t, "DeleteAccount", s.DeleteAccount(ctx, a.ID, []keyserver.AuditEvent{event("account.delete", 1)}))
	_, err := s.Account(ctx, a.ID)
	wantErr(t, "Account deleted", err, keyserver.ErrNotFound)
	_, err = s.AccountByEmail(ctx, a.Email)
	wantErr(t, "AccountByEmail deleted", err, keyserver.ErrNotFound)
	_, err = s.Session(ctx, sa.TokenHash)
	wantErr(t, "Session of a deleted account", err, keyserver.ErrNotFound)
	_, err = s.Session(ctx, sb.TokenHash)
	noErr(t, "Session of another account", err)
	if n := len(auditLog(t, s)); n != 3 {
		t.Errorf("audit has %d records, want 3", n)
	}

	err = s.DeleteAccount(ctx, a.ID, []keyserver.AuditEvent{event("account.delete", 2)})
	wantErr(t, "DeleteAccount again", err, keyserver.ErrNotFound)
	if n := len(auditLog(t, s)); n != 3 {
		t.Errorf("audit has %d records, want 3: deleting nothing logs nothing", n)
	}

	// The email is free again.
	c := createAccount(t, s, a.Email)
	got, err := s.AccountByEmail(ctx, a.Email)
	noErr(t, "AccountByEmail re-created", err)
	equal(t, "re-created account", got, c)
}

func testListAccounts(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	got, err := s.ListAccounts(ctx)
	noErr(t, "ListAccounts empty", err)
	if len(got) != 0 {
		t.Errorf("ListAccounts of an empty store: %d accounts", len(got))
	}
	// Ids are random, so id order is not email order.
	emails := []string{"mia@example.com", "al@example.com", "zed@example.com", "al@example.co", "bea@example.com"}
	byEmail := map[string]keyserver.Account{}
	for _, e := range emails {
		byEmail[e] = createAccount(t, s, e)
	}
	got, err = s.ListAccounts(ctx)
	noErr(t, "ListAccounts", err)
	var want []keyserver.Account
	for _, e := range []string{"al@example.co", "al@example.com", "bea@example.com", "mia@example.com", "zed@example.com"} {
		want = append(want, byEmail[e])
	}
	equal(t, "ListAccounts", got, want)
}
