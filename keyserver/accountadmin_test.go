package keyserver_test

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
)

// putAccount stores an account with a password, a passkey and two sessions.
func (e *env) putAccount(id, email string, role keyserver.Role) [][]byte {
	e.t.Helper()
	ctx := e.t.Context()
	cred := make([]byte, 16)
	rand.Read(cred)
	a := keyserver.Account{ID: id, Email: email, Role: role, Created: e.clock.Now(), LastUsed: e.clock.Now(),
		PasswordHash: "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", UserHandle: []byte(id),
		Credentials: []keyserver.Credential{{ID: cred, Name: "laptop", PublicKey: []byte("pk"), Created: e.clock.Now()}}}
	if err := e.store.CreateAccount(ctx, a, nil); err != nil {
		e.t.Fatal(err)
	}
	var hashes [][]byte
	for range 2 {
		h := make([]byte, 32)
		rand.Read(h)
		if err := e.store.PutSession(ctx, keyserver.Session{TokenHash: h, AccountID: id, Created: e.clock.Now(), LastSeen: e.clock.Now(), Method: keyserver.SignInPasskey}); err != nil {
			e.t.Fatal(err)
		}
		hashes = append(hashes, h)
	}
	return hashes
}

func (e *env) sessionsLeft(hashes [][]byte) int {
	e.t.Helper()
	n := 0
	for _, h := range hashes {
		_, err := e.store.Session(e.t.Context(), h)
		switch {
		case err == nil:
			n++
		case !errors.Is(err, keyserver.ErrNotFound):
			e.t.Fatal(err)
		}
	}
	return n
}

func TestAdminAccountTools(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	admin := keyserver.Caller{Admin: true, IP: "192.0.2.9"}
	bobSessions := e.putAccount("b0b", "bob@patient.example", keyserver.RoleRecipient)
	carolSessions := e.putAccount("ca201", "carol@patient.example", keyserver.RoleRecipient)

	bob, err := e.store.Account(ctx, "b0b")
	if err != nil {
		t.Fatal(err)
	}
	// Only administrators.
	if _, err := e.svc.EndAccountSessions(ctx, keyserver.SessionCaller("192.0.2.1", &keyserver.Session{Method: keyserver.SignInPasskey}, &bob), "ca201"); !errors.Is(err, keyserver.ErrForbidden) {
		t.Fatalf("a recipient ending sessions: %v, want ErrForbidden", err)
	}
	if _, err := e.svc.EndAccountSessions(ctx, admin, "nobody"); !errors.Is(err, keyserver.ErrBadRequest) {
		t.Fatalf("no such account: %v, want ErrBadRequest", err)
	}

	n, err := e.svc.EndAccountSessions(ctx, admin, "b0b")
	if err != nil || n != 2 {
		t.Fatalf("EndAccountSessions: %d, %v; want 2", n, err)
	}
	if left := e.sessionsLeft(bobSessions); left != 0 {
		t.Fatalf("%d of bob's sessions left", left)
	}
	if left := e.sessionsLeft(carolSessions); left != 2 {
		t.Fatalf("carol's sessions ended too: %d left", left)
	}

	carol, err := e.store.Account(ctx, "ca201")
	if err != nil {
		t.Fatal(err)
	}
	// Removing the password: carol's sessions end, the passkey stays.
	a, err := e.svc.RemoveSignInWay(ctx, admin, "ca201", keyserver.WayPassword)
	if err != nil || a.PasswordHash != "" || len(a.Credentials) != 1 {
		t.Fatalf("RemoveSignInWay password: %+v, %v", a, err)
	}
	if left := e.sessionsLeft(carolSessions); left != 0 {
		t.Fatalf("%d of carol's sessions outlived her password", left)
	}
	if _, err := e.svc.RemoveSignInWay(ctx, admin, "ca201", keyserver.WayPassword); !errors.Is(err, keyserver.ErrBadRequest) {
		t.Fatalf("removing a password twice: %v, want ErrBadRequest", err)
	}
	a, err = e.svc.RemoveSignInWay(ctx, admin, "ca201", keyserver.WayPasskeys)
	if err != nil || len(a.Credentials) != 0 {
		t.Fatalf("RemoveSignInWay passkeys: %+v, %v", a, err)
	}
	// The passkey is gone from the credential index too: it signs nobody in.
	if _, err := e.store.AccountByCredential(ctx, carol.Credentials[0].ID); !errors.Is(err, keyserver.ErrNotFound) {
		t.Fatalf("carol's removed passkey: %v, want ErrNotFound", err)
	}
	counts, _ := e.bulkAudit()
	if counts[keyserver.ActionAccountSessionsEnd] != 1 || counts[keyserver.ActionAccountPasswordRemove] != 1 || counts[keyserver.ActionPasskeyRemove] != 1 {
		t.Fatalf("audit: %v", counts)
	}
}

func TestRemoveAdministratorNeverTheLast(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.putAccount("ad1", "root@hospital.example", keyserver.RoleAdmin)
	sessions := e.putAccount("ad2", "deputy@hospital.example", keyserver.RoleAdmin)
	e.putAccount("b0b", "bob@patient.example", keyserver.RoleRecipient)
	c := e.admin()

	var list struct {
		Administrators []api.AccountView `json:"administrators"`
	}
	call := func(method, path string, out any) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, e.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil && resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode
	}
	if st := call(http.MethodGet, "/api/v1/admin/administrators", &list); st != http.StatusOK || len(list.Administrators) != 2 {
		t.Fatalf("administrators: %d, %+v", st, list)
	}
	if st := call(http.MethodDelete, "/api/v1/admin/administrators/b0b", nil); st != http.StatusBadRequest {
		t.Fatalf("removing a recipient as an administrator: %d, want 400", st)
	}
	var v api.AccountView
	if st := call(http.MethodDelete, "/api/v1/admin/administrators/ad2", &v); st != http.StatusOK || v.Role != "sender" {
		t.Fatalf("removing the deputy: %d, %+v; want a sender", st, v)
	}
	if left := e.sessionsLeft(sessions); left != 0 {
		t.Fatalf("%d of the removed administrator's sessions left", left)
	}
	if st := call(http.MethodDelete, "/api/v1/admin/administrators/ad1", nil); st != http.StatusConflict {
		t.Fatalf("removing the last administrator: %d, want 409", st)
	}
	// Nor does deleting its account get round it.
	if st := call(http.MethodDelete, "/api/v1/admin/accounts/ad1", nil); st != http.StatusConflict {
		t.Fatalf("deleting the last administrator's account: %d, want 409", st)
	}
	accs, err := c.Accounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accs {
		if a.ID == "ad1" && a.Role != "admin" {
			t.Fatalf("the last administrator is now %s", a.Role)
		}
	}
}

// TestDisableAccount: a disabled account's session ends and it cannot sign in,
// until it is enabled again; an administrator's account is not disabled.
func TestDisableAccount(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	admin := keyserver.Caller{Admin: true}
	s := e.seal("From: alice@hospital.example\r\n\r\nResults.\r\n", time.Time{}, "bob@patient.example")[0]
	b := e.browser()
	b.register(s, "Bob", "Patient")
	b.open(s)
	bob, err := e.store.AccountByEmail(ctx, "bob@patient.example")
	if err != nil {
		t.Fatal(err)
	}

	a, err := e.svc.SetAccountDisabled(ctx, admin, bob.ID, true)
	if err != nil || !a.Disabled {
		t.Fatalf("disable: %+v, %v", a, err)
	}
	if st, out := b.release(s); st != http.StatusUnauthorized && st != http.StatusForbidden {
		t.Fatalf("release with the disabled account's session: %d %v", st, out)
	}
	signIn := func() (int, map[string]any) {
		return e.browser().call("POST", "/api/v1/signin/password", map[string]string{"email": "bob@patient.example", "password": password})
	}
	if st, out := signIn(); st != http.StatusForbidden || out["error"] != "account_disabled" {
		t.Fatalf("password sign-in of a disabled account: %d %v", st, out)
	}

	if _, err := e.svc.SetAccountDisabled(ctx, admin, bob.ID, false); err != nil {
		t.Fatal(err)
	}
	if st, out := signIn(); st != http.StatusOK {
		t.Fatalf("sign-in after enabling: %d %v", st, out)
	}

	e.putAccount("ad1", "root@hospital.example", keyserver.RoleAdmin)
	if _, err := e.svc.SetAccountDisabled(ctx, admin, "ad1", true); !errors.Is(err, keyserver.ErrBadRequest) {
		t.Fatalf("disabling an administrator: %v, want ErrBadRequest", err)
	}
	if _, err := e.svc.SetAccountDisabled(ctx, keyserver.Caller{}, bob.ID, true); !errors.Is(err, keyserver.ErrForbidden) {
		t.Fatalf("disabling without rights: %v", err)
	}
	counts, _ := e.bulkAudit()
	if counts[keyserver.ActionAccountDisable] != 1 || counts[keyserver.ActionAccountEnable] != 1 {
		t.Fatalf("audit: %v", counts)
	}
}
