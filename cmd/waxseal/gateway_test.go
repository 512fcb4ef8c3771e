package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// sinkHop is a capturing SMTP server standing in for the next hop.
type sinkHop struct {
	srv  *smtp.Server
	mu   sync.Mutex
	got  map[string][][]byte // recipient → messages
	helo []string            // the names clients gave, one per message
}

func startSinkHop(t *testing.T, addr string) *sinkHop {
	t.Helper()
	h := &sinkHop{got: map[string][][]byte{}}
	var ln net.Listener
	var err error
	for i := 0; i < 100; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	h.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &sinkSession{h: h, c: c}, nil }))
	h.srv.Domain = "hop.test"
	go h.srv.Serve(ln)
	t.Cleanup(func() { h.srv.Close() })
	return h
}

func (h *sinkHop) to(rcpt string) [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.got[rcpt]
}

type sinkSession struct {
	h  *sinkHop
	c  *smtp.Conn
	to []string
}

func (s *sinkSession) Reset()                                    { s.to = nil }
func (s *sinkSession) Logout() error                             { return nil }
func (s *sinkSession) Mail(string, *smtp.MailOptions) error      { return nil }
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = append(s.to, to); return nil }
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	for _, t := range s.to {
		s.h.got[t] = append(s.h.got[t], b)
	}
	s.h.helo = append(s.h.helo, s.c.Hostname())
	return nil
}

// startGatewayProcess runs `waxseal gateway` and waits until it listens.
// Its logs (JSON lines on stderr) are returned as they come.
func startGatewayProcess(t *testing.T, bin, cfg, addr string) (*exec.Cmd, *procOutput) {
	t.Helper()
	stdout, stderr := newProcOutput(), newProcOutput()
	cmd := exec.Command(bin, "gateway", "--config", cfg)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); stdout.end(); stderr.end(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	if !stdout.wait("gateway listening on smtp://"+addr, 1) {
		t.Fatalf("gateway did not come up:\n%s", stderr)
	}
	return cmd, stderr
}

// TestGatewaySpoolSurvivesKill9: with the next hop down, the gateway answers 250
// only once the copies are in its spool; killed with SIGKILL and restarted, it
// delivers them all when the hop is back. The external copy is an envelope
// throughout.
func TestGatewaySpoolSurvivesKill9(t *testing.T) {
	in := initInstallation(t)
	in.start()
	hopAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	gwAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := string(mustRead(t, in.cfg))
	for old, repl := range map[string]string{
		`listen = ["127.0.0.1:10025"]`:    `listen = ["` + gwAddr + `"]`,
		`port = 10026`:                    `port = ` + strings.Split(hopAddr, ":")[1],
		`first = "30s"`:                   `first = "200ms"`,
		`interval = "5s"`:                 `interval = "100ms"`,
		`# url = "http://127.0.0.1:8080"`: `url = "` + in.base + `"`,
		// init took the organisation's domain as the internal one
		`internal_domains = ["hospital.example"]`: `internal_domains = ["hospital.example"]`,
	} {
		if !strings.Contains(cfg, old) {
			t.Fatalf("the config init wrote has no %q", old)
		}
		cfg = strings.Replace(cfg, old, repl, 1)
	}
	if err := os.WriteFile(in.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	gw, _ := startGatewayProcess(t, in.bin, in.cfg, gwAddr)
	msg := []byte("From: Alice <alice@hospital.example>\r\nTo: bob@patient.example, carol@hospital.example\r\nSubject: PHI: scan results\r\n\r\nBob's scan is clear.\r\n")
	c, err := smtp.Dial(gwAddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("alice@hospital.example", []string{"bob@patient.example", "carol@hospital.example"}, bytes.NewReader(msg)); err != nil {
		t.Fatalf("submit with the next hop down: %v (want 250 once spooled)", err)
	}
	c.Close()
	spooled, _ := filepath.Glob(filepath.Join(in.dir, "spool", "*.json"))
	if len(spooled) != 3 {
		t.Fatalf("%d spool entries, want 3 (internal copy, envelope, confirmation)", len(spooled))
	}

	gw.Process.Signal(syscall.SIGKILL)
	gw.Process.Wait()
	hop := startSinkHop(t, hopAddr)
	_, logs := startGatewayProcess(t, in.bin, in.cfg, gwAddr)

	// Each spooled copy is logged once relayed and removed from the spool.
	if !logs.wait(`"msg":"spooled delivery relayed"`, 3) {
		t.Fatalf("the gateway ended before relaying its spool:\n%s", logs)
	}
	if got := hop.to("carol@hospital.example"); len(got) != 1 || !bytes.HasSuffix(got[0], msg) {
		t.Fatalf("internal copy after restart: %d", len(got))
	}
	bob := hop.to("bob@patient.example")
	if len(bob) != 1 || bytes.Contains(bob[0], []byte("scan is clear")) || !bytes.Contains(bob[0], []byte("securedoc_")) {
		t.Fatalf("envelope after restart: %d messages", len(bob))
	}
	if got := hop.to("alice@hospital.example"); len(got) != 1 || !bytes.Contains(got[0], []byte("Sent securely")) {
		t.Fatalf("confirmation after restart: %d", len(got))
	}
	// No hostname is configured: the relay names this host in EHLO, as the
	// greeting and the Received headers do, and not "localhost", which a
	// smarthost may refuse.
	want, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	hop.mu.Lock()
	for _, h := range hop.helo {
		if h != want {
			t.Errorf("the relay said EHLO %q, want %q", h, want)
		}
	}
	hop.mu.Unlock()
	// reports/ is the queue of delivery states for the key server, sent on
	// their own schedule: not mail.
	left, _ := filepath.Glob(filepath.Join(in.dir, "spool", "*"))
	left = slices.DeleteFunc(left, func(p string) bool { return filepath.Base(p) == "reports" })
	if len(left) != 0 {
		t.Errorf("the spool is not empty after delivery: %v", left)
	}
}
