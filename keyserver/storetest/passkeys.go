package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// ceremony has every field set.
func ceremony(expires time.Time) keyserver.Ceremony {
	return keyserver.Ceremony{
		ID:          fmt.Sprintf("%x", randBytes(16)),
		Kind:        keyserver.CeremonyEnrol,
		Expires:     expires,
		Data:        []byte(`{"challenge":"abc"}`),
		AccountID:   fmt.Sprintf("%x", randBytes(16)),
		SessionHash: randBytes(32),
		InviteHash:  randBytes(32),
		Email:       "zoe@example.com",
		FirstName:   "Zoë",
		LastName:    "O'Brien",
		UserHandle:  randBytes(32),
	}
}

func invite(email string, expires time.Time) keyserver.Invite {
	return keyserver.Invite{TokenHash: randBytes(32), Email: email, Created: expires.Add(-72 * time.Hour), Expires: expires, CreatedBy: "admin"}
}

func testCredentialLookup(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	a := createAccount(t, s, "zoe@example.com")
	b := createAccount(t, s, "yan@example.com")

	for _, c := range a.Credentials {
		got, err := s.AccountByCredential(ctx, c.ID)
		noErr(t, "AccountByCredential", err)
		equal(t, "AccountByCredential", got, a)
	}
	got, err := s.AccountByCredential(ctx, b.Credentials[1].ID)
	noErr(t, "AccountByCredential", err)
	equal(t, "AccountByCredential of the second account", got, b)

	_, err = s.AccountByCredential(ctx, randBytes(16))
	wantErr(t, "AccountByCredential unknown", err, keyserver.ErrNotFound)
	_, err = s.AccountByCredential(ctx, a.Credentials[0].ID[:8])
	wantErr(t, "AccountByCredential of a prefix", err, keyserver.ErrNotFound)
	_, err = s.AccountByCredential(ctx, nil)
	wantErr(t, "AccountByCredential of nothing", err, keyserver.ErrNotFound)

	// Remove the first passkey, add a new one: the index follows.
	removed, added := a.Credentials[0], a.Credentials[1]
	added.ID, added.Name = randBytes(32), "new"
	a, err = s.UpdateAccount(ctx, a.ID, func(acc *keyserver.Account) ([]keyserver.AuditEvent, error) {
		acc.Credentials = append(acc.Credentials[1:], added)
		return nil, nil
	})
	noErr(t, "UpdateAccount", err)
	_, err = s.AccountByCredential(ctx, removed.ID)
	wantErr(t, "AccountByCredential of a removed passkey", err, keyserver.ErrNotFound)
	got, err = s.AccountByCredential(ctx, added.ID)
	noErr(t, "AccountByCredential of an added passkey", err)
	equal(t, "AccountByCredential of an added passkey", got, a)

	// A failed update leaves the index alone.
	_, err = s.UpdateAccount(ctx, a.ID, func(acc *keyserver.Account) ([]keyserver.AuditEvent, error) {
		acc.Credentials = nil
		return nil, errFn
	})
	wantErr(t, "UpdateAccount with fn failing", err, errFn)
	_, err = s.AccountByCredential(ctx, added.ID)
	noErr(t, "AccountByCredential after a failed update", err)

	noErr(t, "DeleteAccount", s.DeleteAccount(ctx, a.ID, nil))
	for _, c := range a.Credentials {
		_, err = s.AccountByCredential(ctx, c.ID)
		wantErr(t, "AccountByCredential of a deleted account", err, keyserver.ErrNotFound)
	}
	// Its credential ids are free again.
	c := account("xia@example.com")
	c.Credentials[0].ID = added.ID
	noErr(t, "CreateAccount with a freed credential id", s.CreateAccount(ctx, c, nil))
}

func testCredentialConflict(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	a := createAccount(t, s, "zoe@example.com")
	b := createAccount(t, s, "yan@example.com")
	before := len(auditLog(t, s))

	c := account("xia@example.com")
	c.Credentials[1].ID = a.Credentials[0].ID
	err := s.CreateAccount(ctx, c, []keyserver.AuditEvent{event("account.create", 5)})
	wantErr(t, "CreateAccount with another account's credential", err, keyserver.ErrConflict)
	_, err = s.AccountByEmail(ctx, c.Email)
	wantErr(t, "AccountByEmail after the refused CreateAccount", err, keyserver.ErrNotFound)
	_, err = s.AccountByCredential(ctx, c.Credentials[0].ID)
	wantErr(t, "AccountByCredential of the refused account's other credential", err, keyserver.ErrNotFound)

	_, err = s.UpdateAccount(ctx, b.ID, func(acc *keyserver.Account) ([]keyserver.AuditEvent, error) {
		acc.Credentials = append(acc.Credentials, a.Credentials[1])
		return []keyserver.AuditEvent{event("passkey.add", 6)}, nil
	})
	wantErr(t, "UpdateAccount adding another account's credential", err, keyserver.ErrConflict)
	got, err := s.AccountByCredential(ctx, a.Credentials[1].ID)
	noErr(t, "AccountByCredential", err)
	equal(t, "the credential's owner after the refused update", got, a)
	got, err = s.Account(ctx, b.ID)
	noErr(t, "Account", err)
	equal(t, "the refused account unchanged", got, b)

	_, err = s.UpdateAccount(ctx, b.ID, func(acc *keyserver.Account) ([]keyserver.AuditEvent, error) {
		acc.Credentials = append(acc.Credentials, acc.Credentials[0])
		return nil, nil
	})
	wantErr(t, "UpdateAccount listing a credential twice", err, keyserver.ErrConflict)
	if n := len(auditLog(t, s)); n != before {
		t.Errorf("audit has %d records, want %d: refused changes are not logged", n, before)
	}
}

func testCeremonies(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	c := ceremony(at(5 * time.Minute))
	noErr(t, "PutCeremony", s.PutCeremony(ctx, c))
	other := ceremony(at(5 * time.Minute))
	other.Kind, other.Email = keyserver.CeremonySignIn, ""
	noErr(t, "PutCeremony", s.PutCeremony(ctx, other))

	got, err := s.TakeCeremony(ctx, c.ID, at(time.Minute))
	noErr(t, "TakeCeremony", err)
	equal(t, "TakeCeremony", got, c)
	_, err = s.TakeCeremony(ctx, c.ID, at(time.Minute))
	wantErr(t, "TakeCeremony a second time", err, keyserver.ErrNotFound)

	got, err = s.TakeCeremony(ctx, other.ID, at(time.Minute))
	noErr(t, "TakeCeremony of the other", err)
	equal(t, "TakeCeremony of the other", got, other)
	_, err = s.TakeCeremony(ctx, "", at(0))
	wantErr(t, "TakeCeremony without an id", err, keyserver.ErrNotFound)
	_, err = s.TakeCeremony(ctx, "0123", at(0))
	wantErr(t, "TakeCeremony unknown", err, keyserver.ErrNotFound)
}

func testCeremonyExpiry(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	c := ceremony(at(5 * time.Minute))
	noErr(t, "PutCeremony", s.PutCeremony(ctx, c))
	_, err := s.TakeCeremony(ctx, c.ID, at(5*time.Minute))
	wantErr(t, "TakeCeremony at its expiry", err, keyserver.ErrNotFound)
	_, err = s.TakeCeremony(ctx, c.ID, at(time.Minute))
	noErr(t, "TakeCeremony before expiry after a refused take", err)

	// The sweep removes the expired, keeps the rest.
	old, fresh := ceremony(at(time.Minute)), ceremony(at(time.Hour))
	noErr(t, "PutCeremony", s.PutCeremony(ctx, old))
	noErr(t, "PutCeremony", s.PutCeremony(ctx, fresh))
	_, err = s.DeleteSessionsBefore(ctx, at(2*time.Minute))
	noErr(t, "DeleteSessionsBefore", err)
	_, err = s.TakeCeremony(ctx, old.ID, at(0))
	wantErr(t, "TakeCeremony of a swept ceremony", err, keyserver.ErrNotFound)
	got, err := s.TakeCeremony(ctx, fresh.ID, at(0))
	noErr(t, "TakeCeremony of a kept ceremony", err)
	equal(t, "kept ceremony", got, fresh)
}

func testInvites(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	inv := invite("zoe@example.com", at(72*time.Hour))
	noErr(t, "PutInvite", s.PutInvite(ctx, inv, []keyserver.AuditEvent{event("admin.invite", 1)}))
	open := invite("", at(72*time.Hour))
	noErr(t, "PutInvite without an email", s.PutInvite(ctx, open, nil))
	if log := auditLog(t, s); len(log) != 1 || log[0].Action != "admin.invite" {
		t.Errorf("audit after PutInvite: %+v, want one admin.invite record", log)
	}

	got, err := s.Invite(ctx, inv.TokenHash, at(time.Hour))
	noErr(t, "Invite", err)
	equal(t, "Invite", got, inv)
	_, err = s.Invite(ctx, inv.TokenHash, at(time.Hour))
	noErr(t, "Invite again: looking does not use it", err)
	_, err = s.Invite(ctx, inv.TokenHash, at(72*time.Hour))
	wantErr(t, "Invite at its expiry", err, keyserver.ErrNotFound)
	_, err = s.TakeInvite(ctx, inv.TokenHash, at(72*time.Hour))
	wantErr(t, "TakeInvite at its expiry", err, keyserver.ErrNotFound)

	got, err = s.TakeInvite(ctx, inv.TokenHash, at(time.Hour))
	noErr(t, "TakeInvite", err)
	equal(t, "TakeInvite", got, inv)
	_, err = s.TakeInvite(ctx, inv.TokenHash, at(time.Hour))
	wantErr(t, "TakeInvite a second time", err, keyserver.ErrNotFound)
	_, err = s.Invite(ctx, inv.TokenHash, at(time.Hour))
	wantErr(t, "Invite after it was taken", err, keyserver.ErrNotFound)
	_, err = s.TakeInvite(ctx, randBytes(32), at(0))
	wantErr(t, "TakeInvite unknown", err, keyserver.ErrNotFound)

	got, err = s.Invite(ctx, open.TokenHash, at(0))
	noErr(t, "Invite without an email", err)
	equal(t, "Invite without an email", got, open)

	// The sweep removes expired invites.
	_, err = s.DeleteSessionsBefore(ctx, at(73*time.Hour))
	noErr(t, "DeleteSessionsBefore", err)
	_, err = s.Invite(ctx, open.TokenHash, at(0))
	wantErr(t, "Invite after the sweep", err, keyserver.ErrNotFound)
}

// testTakeInviteCreateAccount: an enrolment uses up its invite and creates its
// account in one transaction; a refusal of either leaves both as they were.
func testTakeInviteCreateAccount(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	inv := invite("zoe@example.com", at(time.Hour))
	noErr(t, "PutInvite", s.PutInvite(ctx, inv, nil))
	other := createAccount(t, s, "yan@example.com")
	before := len(auditLog(t, s))

	// A credential another account holds: refused, and the invite stays.
	a := account("zoe@example.com")
	a.Credentials[1].ID = other.Credentials[0].ID
	err := s.TakeInviteCreateAccount(ctx, inv.TokenHash, at(0), a, []keyserver.AuditEvent{event("admin.enrol", 0)})
	wantErr(t, "TakeInviteCreateAccount with another account's credential", err, keyserver.ErrConflict)
	// An address that has an account: refused too.
	taken := account("yan@example.com")
	err = s.TakeInviteCreateAccount(ctx, inv.TokenHash, at(0), taken, nil)
	wantErr(t, "TakeInviteCreateAccount of a taken address", err, keyserver.ErrConflict)
	_, err = s.AccountByEmail(ctx, "zoe@example.com")
	wantErr(t, "account after a refused enrolment", err, keyserver.ErrNotFound)
	got, err := s.Invite(ctx, inv.TokenHash, at(0))
	noErr(t, "Invite after a refused enrolment", err)
	equal(t, "invite after a refused enrolment", got, inv)
	if n := len(auditLog(t, s)); n != before {
		t.Errorf("audit has %d records after refused enrolments, want %d", n, before)
	}
	// An expired or unknown invite: nothing is created.
	a = account("zoe@example.com")
	err = s.TakeInviteCreateAccount(ctx, inv.TokenHash, at(time.Hour), a, nil)
	wantErr(t, "TakeInviteCreateAccount at the invite's expiry", err, keyserver.ErrNotFound)
	err = s.TakeInviteCreateAccount(ctx, randBytes(32), at(0), a, nil)
	wantErr(t, "TakeInviteCreateAccount of an unknown invite", err, keyserver.ErrNotFound)
	_, err = s.AccountByEmail(ctx, "zoe@example.com")
	wantErr(t, "account after enrolments without an invite", err, keyserver.ErrNotFound)

	noErr(t, "TakeInviteCreateAccount", s.TakeInviteCreateAccount(ctx, inv.TokenHash, at(0), a, []keyserver.AuditEvent{event("admin.enrol", 0)}))
	got2, err := s.AccountByEmail(ctx, "zoe@example.com")
	noErr(t, "AccountByEmail after enrolment", err)
	equal(t, "enrolled account", got2, a)
	byCred, err := s.AccountByCredential(ctx, a.Credentials[0].ID)
	noErr(t, "AccountByCredential after enrolment", err)
	equal(t, "AccountByCredential after enrolment", byCred, a)
	_, err = s.Invite(ctx, inv.TokenHash, at(0))
	wantErr(t, "Invite after enrolment", err, keyserver.ErrNotFound)
	if log := auditLog(t, s); len(log) != before+1 || log[len(log)-1].Action != "admin.enrol" {
		t.Errorf("audit after enrolment: %d records, want %d ending in admin.enrol", len(log), before+1)
	}
	err = s.TakeInviteCreateAccount(ctx, inv.TokenHash, at(0), account("xia@example.com"), nil)
	wantErr(t, "TakeInviteCreateAccount with a used invite", err, keyserver.ErrNotFound)
}

// testTakeInviteUpdateAccount: the same for an enrolment into an existing account.
func testTakeInviteUpdateAccount(t *testing.T, s keyserver.Store) {
	ctx := t.Context()
	inv := invite("zoe@example.com", at(time.Hour))
	noErr(t, "PutInvite", s.PutInvite(ctx, inv, nil))
	a := createAccount(t, s, "zoe@example.com")
	other := createAccount(t, s, "yan@example.com")
	before := len(auditLog(t, s))
	refusal := errors.New("refused")

	_, err := s.TakeInviteUpdateAccount(ctx, inv.TokenHash, at(0), a.ID, func(acc *keyserver.Account) ([]keyserver.AuditEvent, error) {
		acc.Role = keyserver.RoleAdmin
		return nil, refusal
	})
	wantErr(t, "TakeInviteUpdateAccount refused by fn", err, refusal)
	_, err = s.TakeInviteUpdateAccount(ctx, inv.TokenHash, at(0), a.ID, func(acc *keyserver.Account) ([]keyserver.AuditEvent, error) {
		acc.Role = keyserver.RoleAdmin
		acc.Credentials = append(acc.Credentials, other.Credentials[0])
		return []keyserver.AuditEvent{event("admin.enrol", 0)}, nil
	})
	wantErr(t, "TakeInviteUpdateAccount with another account's credential", err, keyserver.ErrConflict)
	_, err = s.TakeInviteUpdateAccount(ctx, inv.TokenHash, at(0), "0000", func(acc *keyserver.Account) ([]keyserver.AuditEvent, error) {
		return nil, nil
	})
	wantErr(t, "TakeInviteUpdateAccount of an unknown account", err, keyserver.ErrNotFound)
	_, err = s.TakeInviteUpdateAccount(ctx, inv.TokenHash, at(time.Hour), a.ID, func(acc *keyserver.Account) ([]keyserver.AuditEvent, error) {
		acc.Role = keyserver.RoleAdmin
		return nil, nil
	})
	wantErr(t, "TakeInviteUpdateAccount at the invite's expiry", err, keyserver.ErrNotFound)
	got, err := s.Account(ctx, a.ID)
	noErr(t, "Account", err)
	equal(t, "account after refused enrolments", got, a)
	_, err = s.Invite(ctx, inv.TokenHash, at(0))
	noErr(t, "Invite after refused enrolments", err)
	if n := len(auditLog(t, s)); n != before {
		t.Errorf("audit has %d records after refused enrolments, want %d", n, before)
	}

	added := other.Credentials[0]
	added.ID = randBytes(16)
	got, err = s.TakeInviteUpdateAccount(ctx, inv.TokenHash, at(0), a.ID, func(acc *keyserver.Account) ([]keyserver.AuditEvent, error) {
		acc.Role = keyserver.RoleAdmin
		acc.Credentials = append(acc.Credentials, added)
		return []keyserver.AuditEvent{event("admin.enrol", 0)}, nil
	})
	noErr(t, "TakeInviteUpdateAccount", err)
	want := a
	want.Role = keyserver.RoleAdmin
	want.Credentials = append(append([]keyserver.Credential(nil), a.Credentials...), added)
	equal(t, "TakeInviteUpdateAccount", got, want)
	stored, err := s.Account(ctx, a.ID)
	noErr(t, "Account", err)
	equal(t, "account after enrolment", stored, want)
	byCred, err := s.AccountByCredential(ctx, added.ID)
	noErr(t, "AccountByCredential of the new passkey", err)
	equal(t, "AccountByCredential of the new passkey", byCred.ID, a.ID)
	_, err = s.Invite(ctx, inv.TokenHash, at(0))
	wantErr(t, "Invite after enrolment", err, keyserver.ErrNotFound)
	if log := auditLog(t, s); len(log) != before+1 || log[len(log)-1].Action != "admin.enrol" {
		t.Errorf("audit after enrolment: %d records, want %d ending in admin.enrol", len(log), before+1)
	}
	_, err = s.TakeInviteUpdateAccount(ctx, inv.TokenHash, at(0), a.ID, func(acc *keyserver.Account) ([]keyserver.AuditEvent, error) {
		return nil, nil
	})
	wantErr(t, "TakeInviteUpdateAccount with a used invite", err, keyserver.ErrNotFound)
}
