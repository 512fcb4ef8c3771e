package keyserver_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
)

// TestEnvelopeStatusBeforeSignIn: the open page learns, with no session, whether
// the envelope can be opened (and if not, why) and whether its recipient has an
// account to sign in to, so it can say so before asking anyone for effort.
func TestEnvelopeStatusBeforeSignIn(t *testing.T) {
	e := newEnv(t)
	expires := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	envs := e.seal("secret", expires, "bob@patient.example", "carol@clinic.example")
	anon := e.browser()
	status := func(s sealed) map[string]any {
		t.Helper()
		st, out := anon.call("GET", "/api/v1/envelopes/"+s.file.Header.ID.String()+"/status", nil)
		if st != http.StatusOK {
			t.Fatalf("status: %d %v", st, out)
		}
		return out
	}

	out := status(envs[0])
	if out["state"] != "open" || out["recipient_has_account"] != false {
		t.Fatalf("new envelope: %v", out)
	}
	if got, _ := time.Parse(time.RFC3339, out["expires"].(string)); !got.Equal(expires) {
		t.Fatalf("expires %v, want %v", out["expires"], expires)
	}

	// Registered but not finished (no password, no passkey): not an account to
	// sign in to yet.
	bob := e.browser()
	id := envs[0].file.Header.ID.String()
	bob.call("POST", "/api/v1/register/start", map[string]string{"envelope_id": id, "first_name": "Bob", "last_name": "Patient"})
	if st, out := bob.call("POST", "/api/v1/register/verify", map[string]string{"envelope_id": id, "code": e.lastCode("bob@patient.example")}); st != http.StatusOK {
		t.Fatalf("verify: %d %v", st, out)
	}
	if out := status(envs[0]); out["recipient_has_account"] != false {
		t.Fatalf("unfinished account counted: %v", out)
	}
	if st, out := bob.call("POST", "/api/v1/account/password", map[string]string{"password": password}); st != http.StatusNoContent {
		t.Fatalf("password: %d %v", st, out)
	}
	if out := status(envs[0]); out["recipient_has_account"] != true || out["state"] != "open" {
		t.Fatalf("after registering: %v", out)
	}
	// Only the envelope's own recipient counts.
	if out := status(envs[1]); out["recipient_has_account"] != false {
		t.Fatalf("carol's envelope: %v", out)
	}

	ctx := t.Context()
	if _, err := e.admin().Manage(ctx, "lock", id, "Sent to the wrong patient"); err != nil {
		t.Fatal(err)
	}
	if out := status(envs[0]); out["state"] != "locked" || !strings.Contains(out["message"].(string), "Sent to the wrong patient") {
		t.Fatalf("locked: %v", out)
	}
	if _, err := e.admin().Manage(ctx, "revoke", id, ""); err != nil {
		t.Fatal(err)
	}
	if out := status(envs[0]); out["state"] != "revoked" {
		t.Fatalf("revoked: %v", out)
	}
	if _, err := e.admin().Manage(ctx, "expire", envs[1].file.Header.ID.String(), ""); err != nil {
		t.Fatal(err)
	}
	if out := status(envs[1]); out["state"] != "expired" {
		t.Fatalf("expired: %v", out)
	}
	// Asking changes nothing: no release was counted.
	rec, err := e.admin().Envelope(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Releases != 0 || !rec.FirstOpen.IsZero() {
		t.Fatalf("status counted as an open: %+v", rec)
	}
	if st, out := anon.call("GET", "/api/v1/envelopes/"+envelope.NewID().String()+"/status", nil); st != http.StatusNotFound || out["error"] != "unknown" {
		t.Fatalf("unknown: %d %v", st, out)
	}
}
