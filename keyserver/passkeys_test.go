package keyserver_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// ceremony runs a begin call and returns its ceremony id and options.
func (b *browser) begin(path string, body any) (string, []byte) {
	b.e.t.Helper()
	st, out := b.call("POST", path, body)
	if st != http.StatusOK {
		b.e.t.Fatalf("%s: %d %v", path, st, out)
	}
	opts, _ := json.Marshal(out["options"])
	return out["ceremony"].(string), opts
}

// finish posts a ceremony's answer.
func (b *browser) finish(path, ceremony string, credential []byte, name string) (int, map[string]any) {
	b.e.t.Helper()
	return b.call("POST", path, map[string]any{"ceremony": ceremony, "credential": json.RawMessage(credential), "name": name})
}

// addPasskey makes a passkey on auth for the signed-in account.
func (b *browser) addPasskey(auth *softAuthenticator, name string) *softKey {
	b.e.t.Helper()
	cer, opts := b.begin("/api/v1/account/passkeys/begin", nil)
	k, resp, err := auth.create(opts)
	if err != nil {
		b.e.t.Fatal(err)
	}
	if st, out := b.finish("/api/v1/account/passkeys/finish", cer, resp, name); st != http.StatusCreated {
		b.e.t.Fatalf("passkeys/finish: %d %v", st, out)
	}
	return k
}

// registerWithPasskey is the first registration with a passkey instead of a
// password.
func (b *browser) registerWithPasskey(s sealed, auth *softAuthenticator) *softKey {
	b.e.t.Helper()
	id := s.file.Header.ID.String()
	if st, out := b.call("POST", "/api/v1/register/start", map[string]string{"envelope_id": id, "first_name": "Bob", "last_name": "Patient"}); st != http.StatusAccepted {
		b.e.t.Fatalf("register/start: %d %v", st, out)
	}
	if st, out := b.call("POST", "/api/v1/register/verify", map[string]string{"envelope_id": id, "code": b.e.lastCode(s.file.Header.To)}); st != http.StatusOK || out["setup"] != true {
		b.e.t.Fatalf("register/verify: %d %v", st, out)
	}
	if st, out := b.release(s); st != http.StatusForbidden || out["error"] != "setup_required" {
		b.e.t.Fatalf("release during setup: %d %v, want setup_required", st, out)
	}
	return b.addPasskey(auth, "Laptop")
}

// signInPasskey runs a whole passkey sign-in with k.
func (b *browser) signInPasskey(auth *softAuthenticator, k *softKey) (int, map[string]any) {
	b.e.t.Helper()
	cer, opts := b.begin("/api/v1/signin/passkey/begin", nil)
	return b.finish("/api/v1/signin/passkey/finish", cer, auth.get(k, opts), "")
}

func (e *env) auth() *softAuthenticator {
	return &softAuthenticator{origin: e.public, backupEligible: true}
}

func (e *env) account(email string) keyserver.Account {
	e.t.Helper()
	a, err := e.store.AccountByEmail(e.t.Context(), email)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *env) auditActions() []string {
	e.t.Helper()
	var out []string
	err := e.store.Audit(e.t.Context(), 1, func(r keyserver.AuditRecord) (bool, error) {
		out = append(out, string(r.Action)+" "+r.Detail)
		return true, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func wantAnswer(t *testing.T, what string, st int, out map[string]any, status int, code string) {
	t.Helper()
	if st != status || out["error"] != code {
		t.Fatalf("%s: %d %v, want %d %s", what, st, out, status, code)
	}
}

func TestPasskeyRegistrationSignInRelease(t *testing.T) {
	e := newEnv(t)
	s := e.seal("Hello Bob, your results are fine.", time.Time{}, "bob@patient.example")[0]
	auth := e.auth()
	b := e.browser()
	k := b.registerWithPasskey(s, auth)
	if got := string(b.open(s)); got != "Hello Bob, your results are fine." {
		t.Fatalf("opened %q", got)
	}
	a := e.account("bob@patient.example")
	if a.PasswordHash != "" || len(a.Credentials) != 1 {
		t.Fatalf("account after passkey registration: password %q, %d passkeys; want none and 1", a.PasswordHash, len(a.Credentials))
	}
	c := a.Credentials[0]
	if !bytes.Equal(c.ID, k.id) || c.Name != "Laptop" || c.SignCount != 1 || c.Backup {
		t.Errorf("stored passkey: id %x name %q count %d backup %v; want %x Laptop 1 false", c.ID, c.Name, c.SignCount, c.Backup, k.id)
	}

	// Sign out, then back in with the passkey (now synced: BS set).
	if st, _ := b.call("POST", "/api/v1/signout", nil); st != http.StatusNoContent {
		t.Fatalf("signout: %d", st)
	}
	if st, out := b.release(s); st != http.StatusUnauthorized {
		t.Fatalf("release after sign-out: %d %v", st, out)
	}
	auth.backedUp = true
	e.clock.Add(time.Minute)
	st, out := b.signInPasskey(auth, k)
	if st != http.StatusOK || out["method"] != "passkey" || out["setup"] != false {
		t.Fatalf("passkey sign-in: %d %v", st, out)
	}
	if acct := out["account"].(map[string]any); acct["email"] != "bob@patient.example" || acct["passkeys"] != 1.0 || acct["password"] != false {
		t.Errorf("signed-in account %v", acct)
	}
	if got := string(b.open(s)); got != "Hello Bob, your results are fine." {
		t.Fatalf("opened %q after passkey sign-in", got)
	}
	c = e.account("bob@patient.example").Credentials[0]
	if c.SignCount != 2 || !c.Backup || !c.LastUsed.Equal(e.clock.Now()) {
		t.Errorf("after sign-in: count %d backup %v last used %v; want 2 true %v", c.SignCount, c.Backup, c.LastUsed, e.clock.Now())
	}
	var raw struct {
		Flags struct {
			BackupState bool `json:"backupState"`
		} `json:"flags"`
		Authenticator struct {
			SignCount uint32 `json:"signCount"`
		} `json:"authenticator"`
	}
	if err := json.Unmarshal(c.Raw, &raw); err != nil || raw.Authenticator.SignCount != 2 || !raw.Flags.BackupState {
		t.Errorf("library record after sign-in: %+v %v; want count 2, backup state", raw, err)
	}
	acts := strings.Join(e.auditActions(), "\n")
	for _, want := range []string{"account.register ", "passkey.add Laptop", "signin passkey"} {
		if !strings.Contains(acts, want) {
			t.Errorf("audit lacks %q:\n%s", want, acts)
		}
	}
}

func TestUserHandlesAreRandom(t *testing.T) {
	e := newEnv(t)
	envs := e.seal("x", time.Time{}, "bob@patient.example", "carol@patient.example")
	seen := map[string]bool{}
	for _, s := range envs {
		b := e.browser()
		b.registerWithPasskey(s, e.auth())
		a := e.account(s.file.Header.To)
		if len(a.UserHandle) != 32 || bytes.Contains(a.UserHandle, []byte(a.Email)) || bytes.Contains(a.UserHandle, []byte(a.ID)) {
			t.Errorf("user handle %x of %s: want 32 random bytes, not the email or id", a.UserHandle, a.Email)
		}
		if bytes.Equal(a.UserHandle, make([]byte, 32)) || seen[string(a.UserHandle)] {
			t.Errorf("user handle %x repeats", a.UserHandle)
		}
		seen[string(a.UserHandle)] = true
	}
}

func TestPasskeyReplayIsRejected(t *testing.T) {
	e := newEnv(t)
	s := e.seal("x", time.Time{}, "bob@patient.example")[0]
	auth := e.auth()
	k := e.browser().registerWithPasskey(s, auth)

	b := e.browser()
	cer, opts := b.begin("/api/v1/signin/passkey/begin", nil)
	assertion := auth.get(k, opts)
	if st, out := b.finish("/api/v1/signin/passkey/finish", cer, assertion, ""); st != http.StatusOK {
		t.Fatalf("first use: %d %v", st, out)
	}
	// The same answer again: its ceremony is used up.
	attacker := e.browser()
	st, out := attacker.finish("/api/v1/signin/passkey/finish", cer, assertion, "")
	wantAnswer(t, "replayed assertion", st, out, http.StatusBadRequest, "ceremony_expired")
	// Against a fresh ceremony: its challenge is not the one signed.
	cer2, _ := attacker.begin("/api/v1/signin/passkey/begin", nil)
	st, out = attacker.finish("/api/v1/signin/passkey/finish", cer2, assertion, "")
	wantAnswer(t, "assertion replayed on a new ceremony", st, out, http.StatusBadRequest, "passkey_failed")
	if attacker.cookie != "" {
		t.Error("a replay set a session cookie")
	}
	// And straight through the service.
	_, err := e.svc.FinishPasskeySignIn(t.Context(), keyserver.Caller{IP: "192.0.2.1"}, cer, assertion)
	if !errors.Is(err, keyserver.ErrCeremonyExpired) {
		t.Errorf("service replay: %v, want ceremony_expired", err)
	}
	if acts := strings.Join(e.auditActions(), "\n"); !strings.Contains(acts, "signin.fail passkey sign-in: Error validating challenge") {
		t.Errorf("audit lacks the failed replay:\n%s", acts)
	}
}

func TestForeignOriginIsRejected(t *testing.T) {
	e := newEnv(t)
	s := e.seal("x", time.Time{}, "bob@patient.example")[0]
	auth := e.auth()
	k := e.browser().registerWithPasskey(s, auth)

	// A phishing page at another origin relays our options to the victim's
	// browser: clientDataJSON names its origin.
	phish := *auth
	phish.origin = "https://keys.example.evil"
	b := e.browser()
	cer, opts := b.begin("/api/v1/signin/passkey/begin", nil)
	st, out := b.finish("/api/v1/signin/passkey/finish", cer, phish.get(k, opts), "")
	wantAnswer(t, "assertion from a foreign origin", st, out, http.StatusBadRequest, "passkey_failed")

	// A passkey made for another relying party id does not verify either.
	other := &softAuthenticator{origin: e.public, rpID: "example.evil"}
	b2 := e.browser()
	b2.register(e.seal("y", time.Time{}, "dora@patient.example")[0], "Dora", "P")
	cer, opts = b2.begin("/api/v1/account/passkeys/begin", nil)
	_, resp, err := other.create(opts)
	if err != nil {
		t.Fatal(err)
	}
	st, out = b2.finish("/api/v1/account/passkeys/finish", cer, resp, "x")
	wantAnswer(t, "registration for another RP id", st, out, http.StatusBadRequest, "passkey_failed")

	// A registration from a foreign origin.
	phishReg := &softAuthenticator{origin: "https://keys.example.evil"}
	cer, opts = b2.begin("/api/v1/account/passkeys/begin", nil)
	_, resp, _ = phishReg.create(opts)
	st, out = b2.finish("/api/v1/account/passkeys/finish", cer, resp, "x")
	wantAnswer(t, "registration from a foreign origin", st, out, http.StatusBadRequest, "passkey_failed")
	if n := len(e.account("dora@patient.example").Credentials); n != 0 {
		t.Errorf("dora has %d passkeys after refused registrations", n)
	}
	if acts := strings.Join(e.auditActions(), "\n"); !strings.Contains(acts, "signin.fail passkey sign-in: Error validating origin") {
		t.Errorf("audit lacks the foreign origin:\n%s", acts)
	}
}

func TestCeremoniesExpireAndBindToTheirSession(t *testing.T) {
	e := newEnv(t)
	s := e.seal("x", time.Time{}, "bob@patient.example")[0]
	auth := e.auth()
	owner := e.browser()
	k := owner.registerWithPasskey(s, auth)

	b := e.browser()
	cer, opts := b.begin("/api/v1/signin/passkey/begin", nil)
	e.clock.Add(5*time.Minute + time.Second)
	st, out := b.finish("/api/v1/signin/passkey/finish", cer, auth.get(k, opts), "")
	wantAnswer(t, "expired ceremony", st, out, http.StatusBadRequest, "ceremony_expired")

	// A sign-in ceremony cannot finish a registration, nor the reverse.
	cer, opts = b.begin("/api/v1/signin/passkey/begin", nil)
	st, out = owner.finish("/api/v1/account/passkeys/finish", cer, auth.get(k, opts), "x")
	wantAnswer(t, "sign-in ceremony used to register", st, out, http.StatusBadRequest, "ceremony_expired")

	// A registration ceremony is bound to the session that began it.
	cer, opts = owner.begin("/api/v1/account/passkeys/begin", nil)
	_, resp, err := (&softAuthenticator{origin: e.public}).create(opts)
	if err != nil {
		t.Fatal(err)
	}
	other := e.browser()
	other.register(e.seal("y", time.Time{}, "dora@patient.example")[0], "Dora", "P")
	st, out = other.finish("/api/v1/account/passkeys/finish", cer, resp, "stolen")
	wantAnswer(t, "registration ceremony of another session", st, out, http.StatusBadRequest, "ceremony_expired")
	// ... and it is used up by that attempt.
	st, out = owner.finish("/api/v1/account/passkeys/finish", cer, resp, "mine")
	wantAnswer(t, "registration ceremony after its use", st, out, http.StatusBadRequest, "ceremony_expired")
	st, out = owner.finish("/api/v1/account/passkeys/finish", "", resp, "mine")
	wantAnswer(t, "no ceremony", st, out, http.StatusBadRequest, "bad_request")
}

func TestSignCounterGoingBackwardsIsRefused(t *testing.T) {
	e := newEnv(t)
	s := e.seal("x", time.Time{}, "bob@patient.example")[0]
	auth := e.auth()
	k := e.browser().registerWithPasskey(s, auth)
	b := e.browser()
	for range 2 {
		if st, out := b.signInPasskey(auth, k); st != http.StatusOK {
			t.Fatalf("sign-in: %d %v", st, out)
		}
	}
	if c := e.account("bob@patient.example").Credentials[0]; c.SignCount != 3 {
		t.Fatalf("sign count %d, want 3", c.SignCount)
	}
	k.counter = 1 // a copy of the key, made earlier
	st, out := e.browser().signInPasskey(auth, k)
	wantAnswer(t, "counter went backwards", st, out, http.StatusUnauthorized, "passkey_cloned")
	if c := e.account("bob@patient.example").Credentials[0]; c.SignCount != 3 {
		t.Errorf("sign count %d after a refused sign-in, want 3", c.SignCount)
	}
	// Authenticators that keep no counter send 0 every time: that is fine.
	e2 := newEnv(t)
	s2 := e2.seal("x", time.Time{}, "bob@patient.example")[0]
	auth2 := e2.auth()
	auth2.counterless = true
	k2 := e2.browser().registerWithPasskey(s2, auth2)
	for range 2 {
		if st, out := e2.browser().signInPasskey(auth2, k2); st != http.StatusOK {
			t.Fatalf("counterless sign-in: %d %v", st, out)
		}
	}
}

func TestPasskeyOfOneAccountCannotSignInAsAnother(t *testing.T) {
	e := newEnv(t)
	envs := e.seal("for carol", time.Time{}, "bob@patient.example", "carol@patient.example")
	auth := e.auth()
	k := e.browser().registerWithPasskey(envs[0], auth)
	e.browser().registerWithPasskey(envs[1], e.auth())
	carol := e.account("carol@patient.example")

	// Bob's authenticator claims Carol's user handle.
	forged := *k
	forged.handle = carol.UserHandle
	b := e.browser()
	st, out := b.signInPasskey(auth, &forged)
	wantAnswer(t, "bob's passkey with carol's handle", st, out, http.StatusBadRequest, "passkey_failed")

	// Signed in as Bob, Carol's message stays closed.
	if st, out := b.signInPasskey(auth, k); st != http.StatusOK || out["account"].(map[string]any)["email"] != "bob@patient.example" {
		t.Fatalf("bob's sign-in: %d %v", st, out)
	}
	st, out = b.release(envs[1])
	wantAnswer(t, "carol's envelope for bob", st, out, http.StatusForbidden, "not_yours")

	// An unknown credential.
	stranger := &softAuthenticator{origin: e.public}
	sk, _, _ := stranger.create(mustJSON(map[string]any{"challenge": "AAAA", "rp": map[string]string{"id": "localhost"}, "user": map[string]string{"id": "AAAA"}}))
	st, out = e.browser().signInPasskey(stranger, sk)
	wantAnswer(t, "unknown passkey", st, out, http.StatusUnauthorized, "passkey_unknown")
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

func TestExcludedOnReRegistration(t *testing.T) {
	e := newEnv(t)
	s := e.seal("x", time.Time{}, "bob@patient.example")[0]
	auth := e.auth()
	b := e.browser()
	k := b.registerWithPasskey(s, auth)
	cer, opts := b.begin("/api/v1/account/passkeys/begin", nil)
	if !bytes.Contains(opts, []byte(b64.EncodeToString(k.id))) {
		t.Fatalf("options do not exclude the existing passkey: %s", opts)
	}
	if _, _, err := auth.create(opts); !errors.Is(err, errExcluded) {
		t.Fatalf("authenticator made a second passkey: %v", err)
	}
	// A client that ignores the exclusion and sends the same credential again.
	dup := &softAuthenticator{origin: e.public, reuseID: k.id}
	_, resp, err := dup.create(opts)
	if err != nil {
		t.Fatal(err)
	}
	st, out := b.finish("/api/v1/account/passkeys/finish", cer, resp, "again")
	wantAnswer(t, "the same credential registered again", st, out, http.StatusConflict, "passkey_exists")
	// Nor may another account claim it.
	carol := e.browser()
	carol.register(e.seal("y", time.Time{}, "carol@patient.example")[0], "Carol", "P")
	cer, opts = carol.begin("/api/v1/account/passkeys/begin", nil)
	_, resp, _ = dup.create(opts)
	st, out = carol.finish("/api/v1/account/passkeys/finish", cer, resp, "bob's")
	wantAnswer(t, "another account's credential", st, out, http.StatusConflict, "passkey_exists")
	if n := len(e.account("bob@patient.example").Credentials); n != 1 {
		t.Errorf("bob has %d passkeys, want 1", n)
	}
	if n := len(e.account("carol@patient.example").Credentials); n != 0 {
		t.Errorf("carol has %d passkeys, want 0", n)
	}
}

func TestLastWayInCannotBeRemoved(t *testing.T) {
	e := newEnv(t)
	s := e.seal("x", time.Time{}, "bob@patient.example")[0]
	auth := e.auth()
	b := e.browser()
	k := b.registerWithPasskey(s, auth)
	id := b64.EncodeToString(k.id)

	st, out := b.call("DELETE", "/api/v1/account/passkeys/"+id, nil)
	wantAnswer(t, "remove the only passkey", st, out, http.StatusConflict, "last_way_in")
	st, out = b.call("DELETE", "/api/v1/account/password", nil)
	wantAnswer(t, "remove a password there is not", st, out, http.StatusBadRequest, "bad_request")

	// A password sign-in attempt on a passkey-only account answers exactly as one
	// for an address without an account (which would otherwise learn that Bob is
	// a patient here); the shared message says how passkey people get in.
	st, out = e.browser().call("POST", "/api/v1/signin/password", map[string]string{"email": "bob@patient.example", "password": "whatever it is"})
	st2, out2 := e.browser().call("POST", "/api/v1/signin/password", map[string]string{"email": "nobody@patient.example", "password": "whatever it is"})
	wantAnswer(t, "password sign-in, passkey account", st, out, http.StatusUnauthorized, "bad_credentials")
	if st2 != st || out2["error"] != out["error"] || out2["message"] != out["message"] {
		t.Errorf("passkey-only account %d %v, unknown address %d %v: want the same answer", st, out, st2, out2)
	}
	if msg, _ := out["message"].(string); !strings.Contains(msg, "passkey") || !strings.Contains(msg, "emailed code") {
		t.Errorf("bad_credentials message %q does not point passkey users to their way in", msg)
	}

	// Rename, add a second passkey, then the first may go.
	st, out = b.call("POST", "/api/v1/account/passkeys/"+id+"/rename", map[string]string{"name": "Work laptop <b>"})
	if st != http.StatusOK || out["name"] != "Work laptop <b>" {
		t.Fatalf("rename: %d %v", st, out)
	}
	st, out = b.call("POST", "/api/v1/account/passkeys/"+id+"/rename", map[string]string{"name": "two\nlines"})
	wantAnswer(t, "rename to two lines", st, out, http.StatusBadRequest, "bad_request")
	phone := &softAuthenticator{origin: e.public}
	k2 := b.addPasskey(phone, "Phone")
	st, out = b.call("GET", "/api/v1/account/passkeys", nil)
	list, _ := out["passkeys"].([]any)
	if st != http.StatusOK || len(list) != 2 || list[0].(map[string]any)["name"] != "Work laptop <b>" || list[1].(map[string]any)["name"] != "Phone" {
		t.Fatalf("list: %d %v", st, out)
	}
	if st, out := b.call("DELETE", "/api/v1/account/passkeys/"+id, nil); st != http.StatusNoContent {
		t.Fatalf("remove the first of two passkeys: %d %v", st, out)
	}
	st, out = b.call("DELETE", "/api/v1/account/passkeys/"+id, nil)
	wantAnswer(t, "remove it again", st, out, http.StatusNotFound, "no_such_passkey")
	st, out = e.browser().signInPasskey(auth, k)
	wantAnswer(t, "sign in with the removed passkey", st, out, http.StatusUnauthorized, "passkey_unknown")

	// Password in, last passkey out, then the password is the last way in.
	if st, out := b.call("POST", "/api/v1/account/password", map[string]string{"password": password}); st != http.StatusNoContent {
		t.Fatalf("set password: %d %v", st, out)
	}
	if st, out := b.call("DELETE", "/api/v1/account/passkeys/"+b64.EncodeToString(k2.id), nil); st != http.StatusNoContent {
		t.Fatalf("remove the last passkey with a password set: %d %v", st, out)
	}
	st, out = b.call("DELETE", "/api/v1/account/password", nil)
	wantAnswer(t, "remove the last password", st, out, http.StatusConflict, "last_way_in")

	// Service directly: same rules.
	a := e.account("bob@patient.example")
	err := e.svc.RemovePassword(t.Context(), keyserver.Caller{Account: &a})
	if !errors.Is(err, keyserver.ErrLastWayIn) {
		t.Errorf("RemovePassword: %v, want last_way_in", err)
	}
	acts := strings.Join(e.auditActions(), "\n")
	for _, want := range []string{"passkey.rename Work laptop <b>", "passkey.add Phone", "passkey.remove Work laptop <b>", "passkey.remove Phone"} {
		if !strings.Contains(acts, want) {
			t.Errorf("audit lacks %q", want)
		}
	}
}

func TestAdministratorsNeedAPasskey(t *testing.T) {
	e := newEnv(t)
	s := e.seal("x", time.Time{}, "bob@patient.example")[0]
	inv, err := e.admin().InviteAdmin(t.Context(), "root@hospital.example")
	if err != nil {
		t.Fatal(err)
	}
	prefix := e.public + "/admin/enrol#t="
	if !strings.HasPrefix(inv.Link, prefix) || !inv.Expires.Equal(e.clock.Now().Add(keyserver.AdminInviteTTL)) {
		t.Fatalf("invite %+v", inv)
	}
	token := strings.TrimPrefix(inv.Link, prefix)

	adm := e.browser()
	st, out := adm.call("POST", "/api/v1/enrol/check", map[string]string{"token": token})
	if st != http.StatusOK || out["email"] != "root@hospital.example" || out["existing"] != false {
		t.Fatalf("enrol/check: %d %v", st, out)
	}
	auth := e.auth()
	cer, opts := adm.begin("/api/v1/enrol/begin", map[string]string{"token": token, "first_name": "Ada", "last_name": "Admin"})
	k, resp, err := auth.create(opts)
	if err != nil {
		t.Fatal(err)
	}
	st, out = adm.finish("/api/v1/enrol/finish", cer, resp, "Admin key")
	if st != http.StatusOK || out["method"] != "passkey" || out["account"].(map[string]any)["role"] != "admin" {
		t.Fatalf("enrol/finish: %d %v", st, out)
	}
	st, out = adm.call("GET", "/api/v1/admin/envelopes", nil)
	if st != http.StatusOK || len(out["envelopes"].([]any)) != 1 {
		t.Fatalf("admin list with a passkey session: %d %v", st, out)
	}
	// The invite is used up.
	st, out = e.browser().call("POST", "/api/v1/enrol/check", map[string]string{"token": token})
	wantAnswer(t, "used invite", st, out, http.StatusBadRequest, "invite_invalid")
	st, out = e.browser().call("POST", "/api/v1/enrol/begin", map[string]string{"token": token, "first_name": "Eve", "last_name": "X"})
	wantAnswer(t, "used invite", st, out, http.StatusBadRequest, "invite_invalid")

	// Without the CSRF header the cookie is not enough.
	req, _ := http.NewRequestWithContext(t.Context(), "POST", e.srv.URL+"/api/v1/admin/envelopes/"+s.file.Header.ID.String()+"/lock", strings.NewReader(`{"reason":"x"}`))
	req.AddCookie(&http.Cookie{Name: "waxseal", Value: adm.cookie})
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusForbidden {
		t.Errorf("admin call without CSRF header: %d, want 403", resp2.StatusCode)
	}
	st, out = adm.call("POST", "/api/v1/admin/envelopes/"+s.file.Header.ID.String()+"/lock", map[string]string{"reason": "Wrong patient"})
	if st != http.StatusOK || out["state"] != "locked" {
		t.Fatalf("lock from the browser: %d %v", st, out)
	}

	// The same administrator signed in with an emailed code is refused, clearly.
	code := e.browser()
	if st, out := code.call("POST", "/api/v1/signin/code", map[string]string{"email": "root@hospital.example"}); st != http.StatusAccepted {
		t.Fatalf("signin/code: %d %v", st, out)
	}
	if st, out := code.call("POST", "/api/v1/signin/code/verify", map[string]string{"email": "root@hospital.example", "code": e.lastCode("root@hospital.example")}); st != http.StatusOK || out["method"] != "code" {
		t.Fatalf("signin/code/verify: %d %v", st, out)
	}
	for _, path := range []string{"/api/v1/admin/envelopes", "/api/v1/admin/accounts", "/api/v1/admin/envelopes/" + s.file.Header.ID.String()} {
		st, out = code.call("GET", path, nil)
		wantAnswer(t, "admin "+path+" with a code session", st, out, http.StatusForbidden, "passkey_required")
	}
	st, out = code.call("POST", "/api/v1/envelopes/"+s.file.Header.ID.String()+"/revoke", nil)
	wantAnswer(t, "revoke through the sender route with a code session", st, out, http.StatusForbidden, "passkey_required")
	st, out = code.call("POST", "/api/v1/admin/invites", map[string]string{"email": "eve@hospital.example"})
	wantAnswer(t, "invite with a code session", st, out, http.StatusForbidden, "passkey_required")
	a := e.account("root@hospital.example")
	if _, err := e.svc.ListEnvelopes(t.Context(), keyserver.Caller{Account: &a}, keyserver.EnvelopeQuery{}); !errors.Is(err, keyserver.ErrPasskeyRequired) {
		t.Errorf("ListEnvelopes without passkey: %v, want passkey_required", err)
	}
	// A recipient is simply forbidden.
	bob := e.browser()
	bob.register(s, "Bob", "P")
	st, out = bob.call("GET", "/api/v1/admin/envelopes", nil)
	wantAnswer(t, "admin list as a recipient", st, out, http.StatusForbidden, "forbidden")

	// Back with the passkey: admin sign-in is audited as such.
	st, out = e.browser().signInPasskey(auth, k)
	if st != http.StatusOK {
		t.Fatalf("admin passkey sign-in: %d %v", st, out)
	}
	// The administrator's only passkey stays.
	st, out = adm.call("DELETE", "/api/v1/account/passkeys/"+b64.EncodeToString(k.id), nil)
	wantAnswer(t, "remove an admin's only passkey", st, out, http.StatusConflict, "last_way_in")
	acts := strings.Join(e.auditActions(), "\n")
	for _, want := range []string{"admin.invite root@hospital.example", "admin.enrol ", "passkey.add Admin key", "admin.signin passkey", "envelope.lock Wrong patient"} {
		if !strings.Contains(acts, want) {
			t.Errorf("audit lacks %q:\n%s", want, acts)
		}
	}
}

func TestEnrolmentUpgradesANamedAccount(t *testing.T) {
	e := newEnv(t)
	// alice@hospital.example is a sender with a password account.
	s := e.seal("x", time.Time{}, "alice@hospital.example")[0]
	alice := e.browser()
	alice.register(s, "Alice", "Sender")
	if a := e.account("alice@hospital.example"); a.Role != keyserver.RoleSender {
		t.Fatalf("role %s, want sender", a.Role)
	}
	named, err := e.admin().InviteAdmin(t.Context(), "Alice@Hospital.example")
	if err != nil {
		t.Fatal(err)
	}
	tok := inviteToken(named.Link)
	// Signed in to the account the invite names, in the same browser.
	st, out := alice.call("POST", "/api/v1/enrol/check", map[string]string{"token": tok})
	if st != http.StatusOK || out["email"] != "alice@hospital.example" || out["existing"] != true || out["signed_in"] != true {
		t.Fatalf("enrol/check signed in: %d %v", st, out)
	}
	cer, opts := alice.begin("/api/v1/enrol/begin", map[string]string{"token": tok})
	_, resp, err := e.auth().create(opts)
	if err != nil {
		t.Fatal(err)
	}
	if st, out := alice.finish("/api/v1/enrol/finish", cer, resp, "Key"); st != http.StatusOK || out["method"] != "passkey" {
		t.Fatalf("enrol/finish: %d %v", st, out)
	}
	a := e.account("alice@hospital.example")
	if a.Role != keyserver.RoleAdmin || len(a.Credentials) != 1 || a.PasswordHash == "" {
		t.Errorf("after enrolment: role %s, %d passkeys, password kept %v", a.Role, len(a.Credentials), a.PasswordHash != "")
	}
}

// inviteToken is the token in an enrolment link's fragment.
func inviteToken(link string) string { return link[strings.Index(link, "#t=")+3:] }

func TestPasskeysNeedADomainName(t *testing.T) {
	e := newEnv(t, func(c *keyserver.Config) { c.PublicURL = "http://127.0.0.1:8080" })
	b := e.browser()
	b.origin = "http://127.0.0.1:8080"
	st, out := b.call("POST", "/api/v1/signin/passkey/begin", nil)
	wantAnswer(t, "passkeys on an IP origin", st, out, http.StatusServiceUnavailable, "passkeys_unavailable")
}

func TestSentItemsAreTheSendersOwn(t *testing.T) {
	e := newEnv(t)
	e.seal("x", time.Time{}, "bob@patient.example")                                   // from alice@hospital.example
	s := e.seal("y", time.Time{}, "alice@hospital.example", "carol@hospital.example") // also from alice
	carol := e.browser()
	carol.register(s[1], "Carol", "Sender")
	st, out := carol.call("GET", "/api/v1/sent", nil)
	if st != http.StatusOK || len(out["envelopes"].([]any)) != 0 {
		t.Fatalf("carol's sent items: %d %v, want none", st, out)
	}
	// Alice registers as a sender: her own address, no envelope needed.
	alice := e.browser()
	st, out = alice.call("POST", "/api/v1/register/start", map[string]string{"email": "Alice@hospital.example", "first_name": "Alice", "last_name": "Sender"})
	if st != http.StatusAccepted || out["sent_to"] != "a***e@hospital.example" {
		t.Fatalf("sender register/start: %d %v", st, out)
	}
	st, out = alice.call("POST", "/api/v1/register/verify", map[string]string{"email": "alice@hospital.example", "code": "000000"})
	wantAnswer(t, "sender register/verify, wrong code", st, out, http.StatusBadRequest, "bad_code")
	st, out = alice.call("POST", "/api/v1/register/verify", map[string]string{"email": "alice@hospital.example", "code": e.lastCode("alice@hospital.example")})
	if st != http.StatusOK || out["setup"] != true || out["account"].(map[string]any)["role"] != "sender" {
		t.Fatalf("sender register/verify: %d %v", st, out)
	}
	st, out = alice.call("GET", "/api/v1/sent", nil)
	wantAnswer(t, "sent items before setup", st, out, http.StatusForbidden, "setup_required")
	alice.addPasskey(e.auth(), "Office PC")
	st, out = alice.call("GET", "/api/v1/sent", nil)
	if st != http.StatusOK || len(out["envelopes"].([]any)) != 3 {
		t.Fatalf("alice's sent items: %d %v, want 3", st, out)
	}
	first := out["envelopes"].([]any)[0].(map[string]any)["id"].(string)
	st, out = alice.call("POST", "/api/v1/envelopes/"+first+"/revoke", nil)
	if st != http.StatusOK || out["state"] != "revoked" {
		t.Fatalf("sender revoke: %d %v", st, out)
	}
	bob := e.browser()
	bob.register(e.seal("z", time.Time{}, "dan@patient.example")[0], "Dan", "R")
	st, out = bob.call("GET", "/api/v1/sent", nil)
	wantAnswer(t, "a recipient's sent items", st, out, http.StatusForbidden, "forbidden")
	st, out = bob.call("POST", "/api/v1/envelopes/"+first+"/revoke", nil)
	wantAnswer(t, "a recipient revoking", st, out, http.StatusNotFound, "unknown")
	st, out = e.browser().call("POST", "/api/v1/register/start", map[string]string{"email": "eve@patient.example", "first_name": "Eve", "last_name": "X"})
	wantAnswer(t, "sender registration for an outside address", st, out, http.StatusForbidden, "forbidden")
}

func TestPasskeyCallsAreRateLimited(t *testing.T) {
	e := newEnv(t, func(c *keyserver.Config) {
		c.SignInPerIP = keyserver.RateLimit{Burst: 3, Every: time.Hour}
		c.CeremoniesPerIP = keyserver.RateLimit{Burst: 4, Every: time.Hour}
	})
	b := e.browser()
	// Wrong answers count as sign-in attempts from this address.
	for i := range 3 {
		cer, _ := b.begin("/api/v1/signin/passkey/begin", nil)
		st, out := b.finish("/api/v1/signin/passkey/finish", cer, []byte(`{"id":"x"}`), "")
		wantAnswer(t, "garbage answer "+string(rune('1'+i)), st, out, http.StatusBadRequest, "passkey_failed")
	}
	cer, _ := b.begin("/api/v1/signin/passkey/begin", nil)
	st, out := b.finish("/api/v1/signin/passkey/finish", cer, []byte(`{"id":"x"}`), "")
	wantAnswer(t, "fourth answer", st, out, http.StatusTooManyRequests, "rate_limited")
	// Beginning ceremonies has its own, wider limit (each one is a stored record).
	st, out = b.call("POST", "/api/v1/signin/passkey/begin", nil)
	wantAnswer(t, "fifth ceremony", st, out, http.StatusTooManyRequests, "rate_limited")
	if out["retry_after"] == nil {
		t.Errorf("rate limit answer without retry_after: %v", out)
	}
}
