package keyserver_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/client"
	"github.com/waxseal/waxseal/keyserver/sqlstore"
)

// twoNodes starts two key servers, each with its own store, on one PostgreSQL
// schema: two nodes behind one load balancer.
func twoNodes(t *testing.T, tweak ...func(*keyserver.Config)) (a, b *env) {
	t.Helper()
	dsn := os.Getenv("WAXSEAL_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("WAXSEAL_TEST_POSTGRES is not set in CI: run the tests through `make test`")
		}
		t.Skip("WAXSEAL_TEST_POSTGRES not set (internal/pgtest/with-postgres sets it)")
	}
	schema := benchSchema(t, dsn)
	open := func(node string) *env {
		s, err := sqlstore.Open(t.Context(), sqlstore.Postgres, schema, sqlstore.Options{Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		e := newEnvOver(t, func(keyserver.Store) keyserver.Store { return s },
			append([]func(*keyserver.Config){func(c *keyserver.Config) { c.Node = node }}, tweak...)...)
		e.served = s
		return e
	}
	return open("a"), open("b")
}

// on is a browser's session used against another node (the load balancer sent
// the next request there).
func (b *browser) on(e *env) *browser { return &browser{e: e, cookie: b.cookie, origin: b.origin} }

// TestTwoNodesShareState: registered on node A, signed in and opened on node
// B; a revoke on A refused on B at once; wrong passwords, codes and passkey
// ceremonies split across the nodes count against one limit; a lease taken
// on A is reported on B.
func TestTwoNodesShareState(t *testing.T) {
	a, b := twoNodes(t, func(c *keyserver.Config) { c.MaxCeremonies = 3 })
	ctx := t.Context()
	envs := a.seal("From: alice@hospital.example\r\n\r\nResults.\r\n", time.Time{}, "bob@patient.example", "bob@patient.example")

	// Registered on A (the session works on B too), signed in again on B.
	bob := a.browser()
	bob.register(envs[0], "Bob", "Patient")
	if got := string(bob.on(b).open(envs[0])); got != string(envs[0].msg) {
		t.Fatalf("opened on B: %q", got)
	}
	fresh := b.browser()
	if st, out := fresh.call("POST", "/api/v1/signin/password", map[string]string{"email": "bob@patient.example", "password": password}); st != http.StatusOK {
		t.Fatalf("sign in on B: %d %v", st, out)
	}
	fresh.open(envs[1])

	// A revoke on A: B refuses the next release, with no delay.
	if _, err := a.admin().Manage(ctx, "revoke", envs[1].file.Header.ID.String(), ""); err != nil {
		t.Fatal(err)
	}
	if st, out := fresh.release(envs[1]); st != http.StatusGone || out["error"] != "revoked" {
		t.Fatalf("release on B after a revoke on A: %d %v", st, out)
	}

	// Wrong passwords from one client, alternating between the nodes: the
	// lockout after five counts them all (three on A and two on B would each
	// be under it).
	nodes := []*env{a, b}
	for i := range 5 {
		st, out := nodes[i%2].browser().call("POST", "/api/v1/signin/password", map[string]string{"email": "bob@patient.example", "password": "wrong password " + string(rune('a'+i))})
		if st != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d %v", i+1, st, out)
		}
	}
	if st, out := a.browser().call("POST", "/api/v1/signin/password", map[string]string{"email": "bob@patient.example", "password": password}); st != http.StatusTooManyRequests || out["error"] != "account_locked" {
		t.Fatalf("sixth try, on A: %d %v; want locked", st, out)
	}

	// Codes to one address: five at once, from whichever node.
	for i := range 5 {
		if st, out := nodes[i%2].browser().call("POST", "/api/v1/signin/code", map[string]string{"email": "carol@patient.example"}); st != http.StatusAccepted {
			t.Fatalf("code %d: %d %v", i+1, st, out)
		}
	}
	if st, out := b.browser().call("POST", "/api/v1/signin/code", map[string]string{"email": "carol@patient.example"}); st != http.StatusTooManyRequests {
		t.Fatalf("sixth code, on B: %d %v; want rate limited", st, out)
	}

	// Passkey ceremonies in progress (adding a passkey): at most three from
	// both nodes together.
	for i := range 3 {
		if st, out := bob.on(nodes[i%2]).call("POST", "/api/v1/account/passkeys/begin", nil); st != http.StatusOK {
			t.Fatalf("ceremony %d: %d %v", i+1, st, out)
		}
	}
	if st, out := bob.on(b).call("POST", "/api/v1/account/passkeys/begin", nil); st != http.StatusTooManyRequests {
		t.Fatalf("fourth ceremony, on B: %d %v; want refused", st, out)
	}

	// A lease taken through A is reported through B; B's own lease does not
	// get the mails A holds.
	a.svc.Wait()
	leased, err := gatewayOf(a).LeaseMail(ctx, 100, time.Minute)
	if err != nil || len(leased) == 0 {
		t.Fatalf("lease on A: %d mails, %v", len(leased), err)
	}
	if again, err := gatewayOf(b).LeaseMail(ctx, 100, time.Minute); err != nil || len(again) != 0 {
		t.Fatalf("lease on B while A holds them: %d mails, %v", len(again), err)
	}
	for _, m := range leased {
		if err := gatewayOf(b).MailDone(ctx, m.ID, m.Lease); err != nil {
			t.Fatalf("report on B of mail %d leased on A: %v", m.ID, err)
		}
	}
	if n, err := b.svc.OutboxDepth(ctx); err != nil || n != 0 {
		t.Fatalf("outbox after the reports: %d, %v", n, err)
	}
}

func gatewayOf(e *env) *client.Client { return client.New(e.srv.URL, gatewayToken, nil) }

// TestRunAsLeaderHandsOver: of two services on one store, one leads; when it
// stops, the other takes over, never while the first still runs.
func TestRunAsLeaderHandsOver(t *testing.T) {
	a := newEnv(t, func(c *keyserver.Config) { c.Node = "a" })
	b := newEnvOver(t, func(keyserver.Store) keyserver.Store { return a.store }, func(c *keyserver.Config) { c.Node = "b" })
	var leading atomic.Int32
	started := make(chan string, 2)
	lead := func(name string) func(context.Context) {
		return func(ctx context.Context) {
			if n := leading.Add(1); n != 1 {
				t.Errorf("%s leads while %d others do", name, n-1)
			}
			started <- name
			<-ctx.Done()
			leading.Add(-1)
		}
	}
	ctxA, stopA := context.WithCancel(t.Context())
	ctxB, stopB := context.WithCancel(t.Context())
	doneA, doneB := make(chan struct{}), make(chan struct{})
	go func() { defer close(doneA); a.svc.RunAsLeader(ctxA, time.Millisecond, lead("a")) }()
	first := <-started
	go func() { defer close(doneB); b.svc.RunAsLeader(ctxB, time.Millisecond, lead("b")) }()
	if first != "a" {
		t.Fatalf("%s led first", first)
	}
	var metrics strings.Builder
	if err := a.svc.WriteMetrics(t.Context(), &metrics); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`waxseal_leader{node="a"} 1`, `waxseal_key_releases_total{node="a"} 0`, `waxseal_outbox_depth{node="a"} 0`} {
		if !strings.Contains(metrics.String(), want+"\n") {
			t.Errorf("metrics of node a lack %q:\n%s", want, metrics.String())
		}
	}
	stopA()
	<-doneA
	if got := <-started; got != "b" {
		t.Fatalf("after a stopped, %s led", got)
	}
	stopB()
	<-doneB
}
