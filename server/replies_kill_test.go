//go:build unix

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/waxseal/waxseal/envelope/reply"
	"github.com/waxseal/waxseal/envelope/reply/compose"
	"github.com/waxseal/waxseal/keyserver/client"
	"github.com/waxseal/waxseal/keyserver/httpapi"
	"github.com/waxseal/waxseal/keyserver/mailer"
)

// fileReplies is a ReplySource kept in a JSON file, so that it outlives the
// processes the kill test starts and kills; each call rewrites it atomically.
type fileReplies struct{ path string }

type fileReplyState struct {
	Pending []fileReply `json:"pending"`
	Acked   []string    `json:"acked"`
}

type fileReply struct {
	Reply      PendingReply `json:"reply"`
	LeaseUntil time.Time    `json:"lease_until"`
}

func (f fileReplies) load() (fileReplyState, error) {
	var s fileReplyState
	b, err := os.ReadFile(f.path)
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

func (f fileReplies) save(s fileReplyState) error {
	b, _ := json.Marshal(s)
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, f.path)
}

func (f fileReplies) LeaseReplies(_ context.Context, limit int, lease time.Duration) ([]PendingReply, error) {
	s, err := f.load()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var out []PendingReply
	for i := range s.Pending {
		if len(out) == limit || now.Before(s.Pending[i].LeaseUntil) {
			continue
		}
		s.Pending[i].LeaseUntil = now.Add(lease)
		s.Pending[i].Reply.Lease = strconv.FormatInt(now.UnixNano(), 10)
		out = append(out, s.Pending[i].Reply)
	}
	return out, f.save(s)
}

func (f fileReplies) AckReply(_ context.Context, id, lease string) error {
	s, err := f.load()
	if err != nil {
		return err
	}
	for i, p := range s.Pending {
		if p.Reply.ID == id && p.Reply.Lease == lease {
			s.Pending = append(s.Pending[:i], s.Pending[i+1:]...)
			s.Acked = append(s.Acked, id)
			return f.save(s)
		}
	}
	return fmt.Errorf("reply %s: lease %s not held", id, lease)
}

// ReportReplies makes fileReplies a ReplyReporter, as the key server is, so
// that the kill test crosses the batch report the gateway really sends.
func (f fileReplies) ReportReplies(_ context.Context, reports []ReplyReport) ([]string, error) {
	s, err := f.load()
	if err != nil {
		return nil, err
	}
	lost := []string{}
	for _, r := range reports {
		if r.Reason != "" {
			return nil, fmt.Errorf("reply %s refused: %s", r.ID, r.Reason)
		}
		i := slices.IndexFunc(s.Pending, func(p fileReply) bool { return p.Reply.ID == r.ID && p.Reply.Lease == r.Lease })
		if i < 0 {
			lost = append(lost, r.ID)
			continue
		}
		s.Pending = slices.Delete(s.Pending, i, i+1)
		s.Acked = append(s.Acked, r.ID)
	}
	return lost, f.save(s)
}

func (f fileReplies) FailReply(_ context.Context, id, _, reason string) error {
	return fmt.Errorf("reply %s refused: %s", id, reason)
}

const replyChildEnv = "WAXSEAL_TEST_REPLY_CHILD"

type noRegistrar struct{}

func (noRegistrar) RegisterEnvelopes(context.Context, []client.Registration) error {
	return errors.New("no envelopes in this test")
}

// replyChildGateway is the gateway of a kill test's child process: it relays
// to the next hop at hopAddr and holds the reply keys in dir/reply.key.
func replyChildGateway(dir, hopAddr string) (*Gateway, []reply.KeyPair, error) {
	host, port, _ := net.SplitHostPort(hopAddr)
	p, _ := strconv.Atoi(port)
	relay, err := NewSMTPRelay(RelayConfig{Host: host, Port: p, TLS: mailer.TLSNone, HELOName: "gateway.test"})
	if err != nil {
		return nil, nil, err
	}
	keys, err := reply.LoadKeys(filepath.Join(dir, "reply.key"))
	if err != nil {
		return nil, nil, err
	}
	g, err := New(Config{Hostname: "gateway.test", ClientNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Relay: relay, Policy: newPolicy(&testing.T{}), KeyServer: noRegistrar{}, KeyServerURL: publicURL,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	return g, keys, err
}

// runReplyChild is the gateway process of the kill test: it delivers the
// replies in dir/replies.json to the next hop at hopAddr until none is left,
// and kills itself with SIGKILL right after delivering reply dieAfter (between
// the ledger's "delivered" and the acknowledgement).
func runReplyChild(dir, hopAddr, dieAfter string) error {
	g, keys, err := replyChildGateway(dir, hopAddr)
	if err != nil {
		return err
	}
	src := fileReplies{filepath.Join(dir, "replies.json")}
	d, err := g.NewReplyDeliverer(ReplyConfig{Source: src, Keys: keys, LedgerDir: filepath.Join(dir, "ledger"), Batch: 4, Lease: 300 * time.Millisecond})
	if err != nil {
		return err
	}
	d.afterDelivered = func(id string) {
		if id == dieAfter {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
	ctx := context.Background()
	for {
		s, err := src.load()
		if err != nil {
			return err
		}
		if len(s.Pending) == 0 {
			return nil
		}
		n, err := d.DeliverOnce(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			// Everything left is leased by the process that was killed: its
			// leases run out at a known time.
			next := s.Pending[0].LeaseUntil
			for _, p := range s.Pending {
				if p.LeaseUntil.Before(next) {
					next = p.LeaseUntil
				}
			}
			time.Sleep(time.Until(next))
		}
	}
}

// TestRepliesExactlyOnceAcrossKill9: the gateway is killed with SIGKILL once
// right after the next hop took a reply and before the key server heard of it,
// and once while the next hop held a reply's end of data unanswered; after the
// restarts every reply has reached the next hop exactly once and every one is
// acknowledged. The source takes batch reports, as the key server does, so the
// kills fall between delivery and the batch's one report.
func TestRepliesExactlyOnceAcrossKill9(t *testing.T) {
	if dir := os.Getenv(replyChildEnv); dir != "" && os.Getenv(replyChildEnv+"_KS") == "" {
		if err := runReplyChild(dir, os.Getenv(replyChildEnv+"_HOP"), os.Getenv(replyChildEnv+"_DIE")); err != nil {
			fmt.Fprintln(os.Stderr, "reply child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	dir := t.TempDir()
	kp, err := reply.AddKey(filepath.Join(dir, "reply.key"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 10
	var state fileReplyState
	for i := 0; i < n; i++ {
		msg, err := compose.Build(&compose.Draft{Subject: "Re: Lab results", Text: fmt.Sprintf("reply-canary-%02d", i)}, bytes.NewReader(bytes.Repeat([]byte{byte(i)}, 18)))
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := compose.Seal(msg, &kp.Public, bytes.NewReader(bytes.Repeat([]byte{byte(i + 1)}, 32)))
		if err != nil {
			t.Fatal(err)
		}
		state.Pending = append(state.Pending, fileReply{Reply: pendingReply(fmt.Sprintf("r%02d", i), ReplyToSender, sealed)})
	}
	src := fileReplies{filepath.Join(dir, "replies.json")}
	if err := src.save(state); err != nil {
		t.Fatal(err)
	}
	h := startHop(t, hopOptions{})

	child := func(die string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRepliesExactlyOnceAcrossKill9$")
		cmd.Env = append(os.Environ(), replyChildEnv+"="+dir, replyChildEnv+"_HOP="+h.addr, replyChildEnv+"_DIE="+die)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("child %s:\n%s", die, stderr.String())
			}
		})
		return cmd
	}
	killed := func(cmd *exec.Cmd) {
		t.Helper()
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("the gateway process ended with %v, want SIGKILL", err)
		}
	}

	// 1: killed between delivering r02 and acknowledging it.
	killed(child("r02"))

	// 2: killed while the next hop holds the end of data of r06 unanswered; the
	// hop then refuses it, as an MTA that did not commit it would.
	var second *exec.Cmd
	h.setHold(func([]string) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if second == nil || h.fail != nil || len(h.got) < 6 {
			return
		}
		second.Process.Signal(syscall.SIGKILL)
		h.fail = &smtp.SMTPError{Code: 451, Message: "not committed"}
	})
	h.mu.Lock()
	second = child("")
	h.mu.Unlock()
	killed(second)
	h.setHold(nil)
	h.mu.Lock()
	h.fail = nil
	h.mu.Unlock()

	// 3: runs to the end.
	if err := child("").Wait(); err != nil {
		t.Fatalf("last gateway process: %v", err)
	}

	seen := map[string]int{}
	for _, r := range h.to("alice@hospital.example") {
		_, text, _ := replyParts(t, r.Data)
		seen[text]++
	}
	for i := 0; i < n; i++ {
		if c := seen[fmt.Sprintf("reply-canary-%02d", i)]; c != 1 {
			t.Errorf("reply %02d delivered %d times", i, c)
		}
	}
	final, err := src.load()
	if err != nil {
		t.Fatal(err)
	}
	if len(final.Pending) != 0 || len(final.Acked) != n {
		t.Fatalf("%d pending, %d acknowledged", len(final.Pending), len(final.Acked))
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "ledger"))
	if len(entries) != 0 {
		t.Errorf("%d ledger files left", len(entries))
	}
	if !strings.Contains(strings.Join(final.Acked, ","), "r02") {
		t.Errorf("r02 never acknowledged: %v", final.Acked)
	}
}

// runRemoteReplyChild is the gateway process of the kill test against a real
// key server at ksURL: it delivers what the key server leases it until a lease
// comes back empty, and kills itself with SIGKILL right after its dieAt-th
// delivery (0: never), before the batch's report.
func runRemoteReplyChild(dir, hopAddr, ksURL string, dieAt int) error {
	g, keys, err := replyChildGateway(dir, hopAddr)
	if err != nil {
		return err
	}
	d, err := g.NewReplyDeliverer(ReplyConfig{Source: NewRemoteReplies(client.New(ksURL, gatewayToken, nil)), Keys: keys,
		LedgerDir: filepath.Join(dir, "ledger"), Batch: 4, Lease: time.Minute})
	if err != nil {
		return err
	}
	delivered := 0
	d.afterDelivered = func(string) {
		if delivered++; delivered == dieAt {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
	for {
		n, err := d.DeliverOnce(context.Background())
		if err != nil || n == 0 {
			return err
		}
	}
}

// TestRepliesExactlyOnceThroughKeyServerAcrossKill9: replies stored at a real
// key server; the gateway process is killed with SIGKILL right after its third
// delivery, inside a batch, before that batch's report. The key server's clock
// then passes the lease (no waiting), and a new gateway process, with the same
// ledger, finishes: every stored reply reached the next hop exactly once and
// is recorded delivered at the key server.
func TestRepliesExactlyOnceThroughKeyServerAcrossKill9(t *testing.T) {
	if dir, ks := os.Getenv(replyChildEnv), os.Getenv(replyChildEnv+"_KS"); dir != "" && ks != "" {
		dieAt, _ := strconv.Atoi(os.Getenv(replyChildEnv + "_DIE"))
		if err := runRemoteReplyChild(dir, os.Getenv(replyChildEnv+"_HOP"), ks, dieAt); err != nil {
			fmt.Fprintln(os.Stderr, "reply child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	dir := t.TempDir()
	kp, err := reply.AddKey(filepath.Join(dir, "reply.key"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	svc, st, err := newKeyServerClock(t.TempDir(), io.Discard, clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := httptest.NewServer(httpapi.New(svc))
	t.Cleanup(srv.Close)
	ks := &keyServer{t: t, svc: svc, store: st, srv: srv}
	e := startGateway(t, gwOptions{registrar: ks.client()})
	if se := submit(t, e.addr, "alice@hospital.example", []string{"bob@patient.example"}, labMessage("[send secure] Lab results")); se != nil {
		t.Fatalf("DATA answered %v", se)
	}
	_, _, _, file := wrapperParts(t, e.hop.to("bob@patient.example")[0].Data)
	bob := &browser{k: ks}
	ks.openAs(bob, file)
	const n = 10
	bob.postReplies(file.Header.ID.String(), &kp.Public, n, "ks-reply-canary-%02d")
	h := startHop(t, hopOptions{})
	run := func(dieAt int) error {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRepliesExactlyOnceThroughKeyServerAcrossKill9$")
		cmd.Env = append(os.Environ(), replyChildEnv+"="+dir, replyChildEnv+"_HOP="+h.addr, replyChildEnv+"_KS="+srv.URL,
			replyChildEnv+"_DIE="+strconv.Itoa(dieAt))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if err != nil && dieAt == 0 {
			t.Logf("child:\n%s", stderr.String())
		}
		return err
	}
	err = run(3)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the gateway process ended with %v, want SIGKILL", err)
	}
	if got := len(h.to("alice@hospital.example")); got != 3 {
		t.Fatalf("%d replies reached the next hop before the kill, want 3", got)
	}
	// The killed process's leases run out on the key server's clock.
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	if err := run(0); err != nil {
		t.Fatalf("second gateway process: %v", err)
	}

	seen := map[string]int{}
	for _, r := range h.to("alice@hospital.example") {
		_, text, _ := replyParts(t, r.Data)
		seen[text]++
	}
	for i := range n {
		if c := seen[fmt.Sprintf("ks-reply-canary-%02d", i)]; c != 1 {
			t.Errorf("reply %02d delivered %d times", i, c)
		}
	}
	rs, err := st.RepliesOf(context.Background(), file.Header.ID)
	if err != nil || len(rs) != n {
		t.Fatalf("stored %d, %v", len(rs), err)
	}
	for _, r := range rs {
		if r.Delivered.IsZero() {
			t.Errorf("reply %s not recorded delivered", r.ID)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "ledger")); len(entries) != 0 {
		t.Errorf("%d ledger files left", len(entries))
	}
}
