package keyserver_test

// Attacks on passkeys and the ways into an account that a security review tried:
// a code or password session promoting itself to an administrator's passkey,
// invites that claim someone else's address or account, stolen credentials
// outliving their removal, lockouts by strangers, counters moving back.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
)

// enrolAdmin enrols a new administrator through an invite and returns the
// browser signed in with the new passkey, the authenticator and the passkey.
func (e *env) enrolAdmin(email string) (*browser, *softAuthenticator, *softKey) {
	e.t.Helper()
	inv, err := e.admin().InviteAdmin(e.t.Context(), email)
	if err != nil {
		e.t.Fatal(err)
	}
	b := e.browser()
	auth := e.auth()
	cer, opts := b.begin("/api/v1/enrol/begin", map[string]string{"token": inviteToken(inv.Link), "first_name": "Ada", "last_name": "Admin"})
	k, resp, err := auth.create(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	if st, out := b.finish("/api/v1/enrol/finish", cer, resp, "Admin key"); st != http.StatusOK {
		e.t.Fatalf("enrol/finish: %d %v", st, out)
	}
	return b, auth, k
}

// signInCode signs in with an emailed code.
func (b *browser) signInCode(email string) {
	b.e.t.Helper()
	if st, out := b.call("POST", "/api/v1/signin/code", map[string]string{"email": email}); st != http.StatusAccepted {
		b.e.t.Fatalf("signin/code: %d %v", st, out)
	}
	if st, out := b.call("POST", "/api/v1/signin/code/verify", map[string]string{"email": email, "code": b.e.lastCode(email)}); st != http.StatusOK {
		b.e.t.Fatalf("signin/code/verify: %d %v", st, out)
	}
}

// H1: an administrator's passkeys and password change only in a passkey session.
func TestAdminCodeSessionCannotChangeWaysIn(t *testing.T) {
	e := newEnv(t)
	adm, _, k := e.enrolAdmin("root@hospital.example")
	id := b64.EncodeToString(k.id)

	// The attacker reads the admin's mail and signs in with a code.
	code := e.browser()
	code.signInCode("root@hospital.example")
	st, out := code.call("POST", "/api/v1/account/passkeys/begin", nil)
	wantAnswer(t, "add a passkey to an admin from a code session", st, out, http.StatusForbidden, "passkey_required")
	st, out = code.call("POST", "/api/v1/account/passkeys/"+id+"/rename", map[string]string{"name": "old"})
	wantAnswer(t, "rename an admin's passkey from a code session", st, out, http.StatusForbidden, "passkey_required")
	st, out = code.call("DELETE", "/api/v1/account/passkeys/"+id, nil)
	wantAnswer(t, "remove an admin's passkey from a code session", st, out, http.StatusForbidden, "passkey_required")
	st, out = code.call("POST", "/api/v1/account/password", map[string]string{"password": password})
	wantAnswer(t, "set an admin's password from a code session", st, out, http.StatusForbidden, "passkey_required")
	st, out = code.call("DELETE", "/api/v1/account/password", nil)
	wantAnswer(t, "remove an admin's password from a code session", st, out, http.StatusForbidden, "passkey_required")
	// Nor with a reset code, which would also end the administrator's sessions.
	if st, out := code.call("POST", "/api/v1/password/forgot", map[string]string{"email": "root@hospital.example"}); st != http.StatusAccepted {
		t.Fatalf("password/forgot: %d %v", st, out)
	}
	st, out = e.browser().call("POST", "/api/v1/password/reset", map[string]string{"email": "root@hospital.example", "code": e.lastCode("root@hospital.example"), "password": password})
	wantAnswer(t, "reset an admin's password with a mailed code", st, out, http.StatusForbidden, "passkey_required")

	a := e.account("root@hospital.example")
	if len(a.Credentials) != 1 || a.Credentials[0].Name != "Admin key" || a.PasswordHash != "" {
		t.Fatalf("admin account changed: %d passkeys, name %q, password %v", len(a.Credentials), a.Credentials[0].Name, a.PasswordHash != "")
	}
	if st, out := adm.call("GET", "/api/v1/admin/envelopes", nil); st != http.StatusOK {
		t.Fatalf("admin session after the attempts: %d %v", st, out)
	}
	// In the passkey session the administrator may add a second passkey.
	adm.addPasskey(e.auth(), "Spare key")
	if n := len(e.account("root@hospital.example").Credentials); n != 2 {
		t.Errorf("admin has %d passkeys, want 2", n)
	}
}

// H1, at the service: FinishPasskeyRegistration refuses too, should a code
// session hold a registration ceremony (begun before the account became an
// administrator's).
func TestAdminRegistrationFinishNeedsPasskeySession(t *testing.T) {
	e := newEnv(t)
	s := e.seal("x", time.Time{}, "alice@hospital.example")[0]
	alice := e.browser()
	alice.register(s, "Alice", "Sender")
	cer, opts := alice.begin("/api/v1/account/passkeys/begin", nil)
	_, resp, err := e.auth().create(opts)
	if err != nil {
		t.Fatal(err)
	}
	// Meanwhile Alice becomes an administrator (the store, as an enrolment would).
	a := e.account("alice@hospital.example")
	if _, err := e.store.UpdateAccount(t.Context(), a.ID, func(acc *keyserver.Account) ([]keyserver.AuditEvent, error) {
		acc.Role = keyserver.RoleAdmin
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	st, out := alice.finish("/api/v1/account/passkeys/finish", cer, resp, "sneaky")
	wantAnswer(t, "finish a registration for an admin from a password session", st, out, http.StatusForbidden, "passkey_required")
	if n := len(e.account("alice@hospital.example").Credentials); n != 0 {
		t.Errorf("admin has %d passkeys, want 0", n)
	}
}

// H2: invites name an address, at the organisation's domains.
func TestAdminInvitesNameAnOrgAddress(t *testing.T) {
	e := newEnv(t)
	s := e.seal("Your results", time.Time{}, "bob@patient.example")[0]
	_, err := e.admin().InviteAdmin(t.Context(), "bob@patient.example")
	if err == nil || !strings.Contains(err.Error(), "organisation's own domains (hospital.example); bob@patient.example is not one") {
		t.Errorf("invite for a patient's address: %v, want a refusal naming the domains", err)
	}
	if _, err := e.admin().InviteAdmin(t.Context(), ""); err == nil || !strings.Contains(err.Error(), "must name the address") {
		t.Errorf("invite without an address: %v, want a refusal", err)
	}
	if _, _, err := keyserver.NewAdminInvite("", "x", []string{"hospital.example"}, e.clock.Now()); err == nil {
		t.Error("NewAdminInvite without an address succeeded")
	}

	// An open invite stored before this rule (or by an old `waxseal init`)
	// enrols nobody, least of all the patient.
	open, token, err := keyserver.NewAdminInvite("x@hospital.example", "test", []string{"hospital.example"}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	open.Email = ""
	if err := e.store.PutInvite(t.Context(), open, nil); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	st, out := b.call("POST", "/api/v1/enrol/check", map[string]string{"token": token})
	wantAnswer(t, "check an open invite", st, out, http.StatusBadRequest, "invite_invalid")
	st, out = b.call("POST", "/api/v1/enrol/begin", map[string]string{"token": token, "first_name": "Eve", "last_name": "X"})
	wantAnswer(t, "enrol with an open invite", st, out, http.StatusBadRequest, "invite_invalid")
	// A named invite enrols the address it names, whatever the page sends.
	inv, err := e.admin().InviteAdmin(t.Context(), "root@hospital.example")
	if err != nil {
		t.Fatal(err)
	}
	st, out = b.call("POST", "/api/v1/enrol/begin", map[string]any{"token": inviteToken(inv.Link), "email": "bob@patient.example", "first_name": "Eve", "last_name": "X"})
	wantAnswer(t, "enrol naming another address", st, out, http.StatusBadRequest, "bad_request")
	cer, opts := b.begin("/api/v1/enrol/begin", map[string]any{"token": inviteToken(inv.Link), "first_name": "Eve", "last_name": "X"})
	_, resp, err := e.auth().create(opts)
	if err != nil {
		t.Fatal(err)
	}
	st, out = b.finish("/api/v1/enrol/finish", cer, resp, "k")
	if st != http.StatusOK || out["account"].(map[string]any)["email"] != "root@hospital.example" {
		t.Fatalf("enrol/finish: %d %v", st, out)
	}
	if _, err := e.store.AccountByEmail(t.Context(), "bob@patient.example"); !errors.Is(err, keyserver.ErrNotFound) {
		t.Errorf("bob has an account: %v", err)
	}
	st, out = b.release(s)
	wantAnswer(t, "bob's envelope for the enrolled admin", st, out, http.StatusForbidden, "not_yours")

	// An invite whose address left the organisation's domains is refused too.
	e2 := newEnv(t)
	moved, tok2, _ := keyserver.NewAdminInvite("root@hospital.example", "x", []string{"hospital.example"}, e2.clock.Now())
	moved.Email = "root@elsewhere.example"
	if err := e2.store.PutInvite(t.Context(), moved, nil); err != nil {
		t.Fatal(err)
	}
	st, out = e2.browser().call("POST", "/api/v1/enrol/begin", map[string]string{"token": tok2, "first_name": "R", "last_name": "X"})
	wantAnswer(t, "invite for an address outside the domains", st, out, http.StatusBadRequest, "invite_invalid")
}

// H3: an invite for an address that has an account needs that account's sign-in.
func TestInviteForAnExistingAccountNeedsItsSignIn(t *testing.T) {
	e := newEnv(t)
	s := e.seal("For Alice only", time.Time{}, "alice@hospital.example")[0]
	alice := e.browser()
	alice.register(s, "Alice", "Sender")
	inv, err := e.admin().InviteAdmin(t.Context(), "alice@hospital.example")
	if err != nil {
		t.Fatal(err)
	}
	tok := inviteToken(inv.Link)

	// The invite holder, not signed in as Alice.
	thief := e.browser()
	st, out := thief.call("POST", "/api/v1/enrol/begin", map[string]string{"token": tok, "first_name": "Eve", "last_name": "X"})
	wantAnswer(t, "enrol into an existing account without its sign-in", st, out, http.StatusUnauthorized, "signin_required")
	// The page learns why, before any passkey prompt.
	st, out = thief.call("POST", "/api/v1/enrol/check", map[string]string{"token": tok})
	if st != http.StatusOK || out["existing"] != true || out["signed_in"] != false {
		t.Fatalf("enrol/check not signed in: %d %v", st, out)
	}
	// Signed in as someone else: no better.
	carol := e.browser()
	carol.register(e.seal("y", time.Time{}, "carol@hospital.example")[0], "Carol", "S")
	st, out = carol.call("POST", "/api/v1/enrol/begin", map[string]string{"token": tok})
	wantAnswer(t, "enrol into an existing account signed in as another", st, out, http.StatusUnauthorized, "signin_required")
	// A ceremony Alice began cannot be finished elsewhere.
	cer, opts := alice.begin("/api/v1/enrol/begin", map[string]string{"token": tok})
	_, resp, err := e.auth().create(opts)
	if err != nil {
		t.Fatal(err)
	}
	st, out = thief.finish("/api/v1/enrol/finish", cer, resp, "mine")
	wantAnswer(t, "finish Alice's enrolment in another browser", st, out, http.StatusUnauthorized, "signin_required")
	st, out = thief.release(s)
	wantAnswer(t, "release Alice's envelope to the invite holder", st, out, http.StatusUnauthorized, "signin_required")
	if a := e.account("alice@hospital.example"); a.Role != keyserver.RoleSender || len(a.Credentials) != 0 {
		t.Fatalf("alice after the attempts: role %s, %d passkeys", a.Role, len(a.Credentials))
	}
	// The invite is still there for Alice herself.
	cer, opts = alice.begin("/api/v1/enrol/begin", map[string]string{"token": tok})
	_, resp, err = e.auth().create(opts)
	if err != nil {
		t.Fatal(err)
	}
	if st, out := alice.finish("/api/v1/enrol/finish", cer, resp, "Alice key"); st != http.StatusOK {
		t.Fatalf("alice's enrolment: %d %v", st, out)
	}
	if a := e.account("alice@hospital.example"); a.Role != keyserver.RoleAdmin || len(a.Credentials) != 1 {
		t.Errorf("alice after enrolment: role %s, %d passkeys", a.Role, len(a.Credentials))
	}
}

// M1: removing a passkey or the password ends the sessions it may have opened.
func TestRemovingAWayInEndsOtherSessions(t *testing.T) {
	e := newEnv(t)
	s := e.seal("x", time.Time{}, "bob@patient.example")[0]
	owner := e.browser()
	owner.registerWithPasskey(s, e.auth())
	stolen := e.auth()
	k2 := owner.addPasskey(stolen, "Old phone")

	thief := e.browser()
	if st, out := thief.signInPasskey(stolen, k2); st != http.StatusOK {
		t.Fatalf("thief's sign-in: %d %v", st, out)
	}
	if st, out := thief.release(s); st != http.StatusOK {
		t.Fatalf("thief's release before the removal: %d %v", st, out)
	}
	if st, out := owner.call("DELETE", "/api/v1/account/passkeys/"+b64.EncodeToString(k2.id), nil); st != http.StatusNoContent {
		t.Fatalf("remove passkey: %d %v", st, out)
	}
	st, out := thief.release(s)
	wantAnswer(t, "thief's release after the removal", st, out, http.StatusUnauthorized, "signin_required")
	if st, out := owner.release(s); st != http.StatusOK {
		t.Fatalf("owner's release after the removal: %d %v", st, out)
	}

	// The same for a password.
	if st, out := owner.call("POST", "/api/v1/account/password", map[string]string{"password": password}); st != http.StatusNoContent {
		t.Fatalf("set password: %d %v", st, out)
	}
	guesser := e.browser()
	if st, out := guesser.call("POST", "/api/v1/signin/password", map[string]string{"email": "bob@patient.example", "password": password}); st != http.StatusOK {
		t.Fatalf("password sign-in: %d %v", st, out)
	}
	if st, out := owner.call("DELETE", "/api/v1/account/password", nil); st != http.StatusNoContent {
		t.Fatalf("remove password: %d %v", st, out)
	}
	st, out = guesser.call("GET", "/api/v1/session", nil)
	wantAnswer(t, "password session after the password was removed", st, out, http.StatusUnauthorized, "signin_required")
	if st, out := owner.call("GET", "/api/v1/session", nil); st != http.StatusOK {
		t.Fatalf("owner's session after removing the password: %d %v", st, out)
	}
}

// M2: other people's password guesses do not stop a passkey sign-in.
func TestPasswordGuessesDoNotBlockPasskeySignIn(t *testing.T) {
	e := newEnv(t, func(c *keyserver.Config) { c.SignInPerEmail = keyserver.RateLimit{Burst: 3, Every: time.Hour} })
	s := e.seal("x", time.Time{}, "bob@patient.example")[0]
	auth := e.auth()
	k := e.browser().registerWithPasskey(s, auth)
	guesser := e.browser()
	for range 3 {
		if st, out := guesser.call("POST", "/api/v1/signin/password", map[string]string{"email": "bob@patient.example", "password": "guess guess guess"}); st != http.StatusUnauthorized {
			t.Fatalf("a guess: %d %v, want 401", st, out)
		}
	}
	st, out := guesser.call("POST", "/api/v1/signin/password", map[string]string{"email": "bob@patient.example", "password": "guess guess guess"})
	wantAnswer(t, "a guess over the limit", st, out, http.StatusTooManyRequests, "rate_limited")
	b := e.browser()
	if st, out := b.signInPasskey(auth, k); st != http.StatusOK {
		t.Fatalf("passkey sign-in after others' guesses: %d %v", st, out)
	}
	b.open(s)
}

// M3: a failed enrolment keeps its invite, and a credential conflict says so.
func TestFailedEnrolmentKeepsTheInvite(t *testing.T) {
	e := newEnv(t)
	s := e.seal("x", time.Time{}, "bob@patient.example")[0]
	bobKey := e.browser().registerWithPasskey(s, e.auth())
	inv, err := e.admin().InviteAdmin(t.Context(), "root@hospital.example")
	if err != nil {
		t.Fatal(err)
	}
	tok := inviteToken(inv.Link)
	b := e.browser()
	cer, opts := b.begin("/api/v1/enrol/begin", map[string]string{"token": tok, "first_name": "Rita", "last_name": "Root"})
	// A client that sends Bob's credential id for the new passkey.
	_, resp, err := (&softAuthenticator{origin: e.public, reuseID: bobKey.id}).create(opts)
	if err != nil {
		t.Fatal(err)
	}
	st, out := b.finish("/api/v1/enrol/finish", cer, resp, "k")
	wantAnswer(t, "enrolment with another account's credential", st, out, http.StatusConflict, "passkey_exists")
	if _, err := e.store.AccountByEmail(t.Context(), "root@hospital.example"); !errors.Is(err, keyserver.ErrNotFound) {
		t.Fatalf("account after a refused enrolment: %v", err)
	}
	// The invite still works.
	cer, opts = b.begin("/api/v1/enrol/begin", map[string]string{"token": tok, "first_name": "Rita", "last_name": "Root"})
	_, resp, err = e.auth().create(opts)
	if err != nil {
		t.Fatal(err)
	}
	if st, out := b.finish("/api/v1/enrol/finish", cer, resp, "k"); st != http.StatusOK {
		t.Fatalf("enrolment after a refused one: %d %v", st, out)
	}
	st, out = e.browser().call("POST", "/api/v1/enrol/check", map[string]string{"token": tok})
	wantAnswer(t, "used invite", st, out, http.StatusBadRequest, "invite_invalid")
}

// misbehavingStore makes AccountByCredential answer from an old copy of the
// account (as a sign-in that read it before another finished) or fail.
type misbehavingStore struct {
	keyserver.Store
	mu    sync.Mutex
	stale *keyserver.Account
	fail  error
}

func (m *misbehavingStore) AccountByCredential(ctx context.Context, id []byte) (keyserver.Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.fail != nil:
		return keyserver.Account{}, m.fail
	case m.stale != nil:
		return *m.stale, nil
	}
	return m.Store.AccountByCredential(ctx, id)
}

// L2: a sign-in that read the account before another sign-in stored a higher
// counter never moves the stored counter back.
func TestSignCounterNeverMovesBack(t *testing.T) {
	var ms *misbehavingStore
	e := newEnvOver(t, func(st keyserver.Store) keyserver.Store { ms = &misbehavingStore{Store: st}; return ms })
	s := e.seal("x", time.Time{}, "bob@patient.example")[0]
	auth := e.auth()
	k := e.browser().registerWithPasskey(s, auth)
	old := e.account("bob@patient.example") // counter 1
	for range 2 {
		if st, out := e.browser().signInPasskey(auth, k); st != http.StatusOK {
			t.Fatalf("sign-in: %d %v", st, out)
		}
	}
	ms.mu.Lock()
	ms.stale = &old
	ms.mu.Unlock()
	k.counter = 1 // the assertion carries 2: above what the stale copy says, below the stored 3
	st, out := e.browser().signInPasskey(auth, k)
	wantAnswer(t, "sign-in with a counter below the stored one", st, out, http.StatusUnauthorized, "passkey_cloned")
	if c := e.account("bob@patient.example").Credentials[0]; c.SignCount != 3 {
		t.Errorf("stored sign count %d, want 3", c.SignCount)
	}
}

// L3: a store failure while looking up the credential is the server's error.
func TestCredentialLookupFailureIsInternal(t *testing.T) {
	var ms *misbehavingStore
	e := newEnvOver(t, func(st keyserver.Store) keyserver.Store { ms = &misbehavingStore{Store: st}; return ms })
	s := e.seal("x", time.Time{}, "bob@patient.example")[0]
	auth := e.auth()
	k := e.browser().registerWithPasskey(s, auth)
	ms.mu.Lock()
	ms.fail = errors.New("disk on fire")
	ms.mu.Unlock()
	st, out := e.browser().signInPasskey(auth, k)
	wantAnswer(t, "sign-in while the store fails", st, out, http.StatusInternalServerError, "internal")
	if acts := strings.Join(e.auditActions(), "\n"); strings.Contains(acts, "signin.fail") {
		t.Errorf("a store failure was audited as a failed sign-in:\n%s", acts)
	}
	if !strings.Contains(e.logs.String(), "disk on fire") {
		t.Error("the store failure is not in the log")
	}
}

// L1: stored ceremonies in progress (adding a passkey, which needs a session)
// are capped across all clients.
func TestCeremoniesInProgressAreCapped(t *testing.T) {
	e := newEnv(t, func(c *keyserver.Config) { c.MaxCeremonies = 3 })
	b := e.browser()
	b.register(e.seal("x", time.Time{}, "bob@patient.example")[0], "Bob", "P")
	var cers []string
	for range 3 {
		cer, _ := b.begin("/api/v1/account/passkeys/begin", nil)
		cers = append(cers, cer)
	}
	st, out := b.call("POST", "/api/v1/account/passkeys/begin", nil)
	wantAnswer(t, "a fourth ceremony in progress", st, out, http.StatusTooManyRequests, "rate_limited")
	// A ceremony used up (whatever the outcome) makes room ...
	st, out = b.finish("/api/v1/account/passkeys/finish", cers[0], []byte(`{"id":"x"}`), "x")
	wantAnswer(t, "garbage answer", st, out, http.StatusBadRequest, "passkey_failed")
	b.begin("/api/v1/account/passkeys/begin", nil)
	st, out = b.call("POST", "/api/v1/account/passkeys/begin", nil)
	wantAnswer(t, "over the cap again", st, out, http.StatusTooManyRequests, "rate_limited")
	// ... and so does expiry.
	e.clock.Add(5*time.Minute + time.Second)
	b.begin("/api/v1/account/passkeys/begin", nil)
}

// A flood of passkey sign-in begins from many addresses (127.0.0.0/8, each
// within its own rate limit) stores nothing and leaves no pool to fill: an
// administrator still signs in with a passkey, and each sign-in ceremony is still
// used once.
func TestSignInFloodDoesNotLockOutAdministrators(t *testing.T) {
	e := newEnv(t, func(c *keyserver.Config) {
		c.MaxCeremonies = 50
		c.CeremoniesPerIP = keyserver.RateLimit{Burst: 5, Every: time.Hour}
	})
	_, auth, k := e.enrolAdmin("ada@hospital.example")
	for i := range 40 {
		ip := fmt.Sprintf("127.0.%d.%d", 20+i/10, 1+i%10)
		c := clientFrom(ip)
		for range 5 {
			req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/signin/passkey/begin", strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(api.CSRFHeader, "1")
			req.Header.Set("Origin", e.public)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	admin := e.browser()
	cer, opts := admin.begin("/api/v1/signin/passkey/begin", nil)
	assertion := auth.get(k, opts)
	if st, out := admin.finish("/api/v1/signin/passkey/finish", cer, assertion, ""); st != http.StatusOK || out["account"].(map[string]any)["role"] != "admin" {
		t.Fatalf("administrator's passkey sign-in after the flood: %d %v", st, out)
	}
	// The ceremony is used up, through the service too.
	if _, err := e.svc.FinishPasskeySignIn(t.Context(), keyserver.Caller{IP: "192.0.2.1"}, cer, assertion); !errors.Is(err, keyserver.ErrCeremonyExpired) {
		t.Errorf("second use of a sign-in ceremony: %v", err)
	}
	// A ceremony id this server did not seal, or sealed for too long ago, is refused.
	for name, id := range map[string]string{"made up": "s.AAAA", "altered": cer[:len(cer)-2] + "AA", "stored-style": strings.Repeat("ab", 16)} {
		if _, err := e.svc.FinishPasskeySignIn(t.Context(), keyserver.Caller{IP: "192.0.2.1"}, id, assertion); !errors.Is(err, keyserver.ErrCeremonyExpired) {
			t.Errorf("%s ceremony id: %v", name, err)
		}
	}
}
