package mailer

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/waxseal/waxseal/keyserver"
)

// syncBuffer lets the race detector accept a log written from Run's goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type giveUps struct {
	mu    sync.Mutex
	mails []keyserver.OutboxMail
	errs  []error
}

func (g *giveUps) hook(m keyserver.OutboxMail, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mails = append(g.mails, m)
	g.errs = append(g.errs, err)
}

func (g *giveUps) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.mails)
}

type drainerEnv struct {
	outbox *fakeOutbox
	clock  *fakeClock
	logs   *syncBuffer
	gaveUp *giveUps
}

func newDrainerEnv(t *testing.T, sender Sender, cfg DrainerConfig) (*Drainer, *drainerEnv) {
	t.Helper()
	env := &drainerEnv{outbox: newFakeOutbox(), clock: newFakeClock(), logs: &syncBuffer{}, gaveUp: &giveUps{}}
	cfg.Now = env.clock.Now
	cfg.Logger = slog.New(slog.NewTextHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.OnGiveUp = env.gaveUp.hook
	t.Cleanup(func() {
		if strings.Contains(env.logs.String(), testCode) {
			t.Errorf("a log line contains the message body:\n%s", env.logs)
		}
	})
	return NewDrainer(env.outbox, sender, cfg), env
}

func (e *drainerEnv) enqueue() uint64 {
	return e.outbox.enqueue(keyserver.OutboxMail{
		From:        "noreply@waxseal.test",
		To:          []string{"alice@example.test"},
		Message:     testMessage,
		Created:     e.clock.Now(),
		NextAttempt: e.clock.Now(),
	})
}

func drainOnce(t *testing.T, d *Drainer, wantSent, wantFailed int) {
	t.Helper()
	sent, failed, err := d.DrainOnce(context.Background())
	if err != nil {
		t.Fatalf("DrainOnce: %v", err)
	}
	if sent != wantSent || failed != wantFailed {
		t.Fatalf("DrainOnce = %d sent, %d failed; want %d, %d", sent, failed, wantSent, wantFailed)
	}
}

func TestDrainerDeliversOverSMTP(t *testing.T) {
	be, port := startServer(t, serverOpts{})
	d, env := newDrainerEnv(t, newTestSMTP(t, SMTPConfig{Port: port}), DrainerConfig{})
	id := env.enqueue()
	drainOnce(t, d, 1, 0)
	if _, ok := env.outbox.get(id); ok {
		t.Error("delivered mail is still in the outbox")
	}
	msgs := be.messages()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages, want 1", len(msgs))
	}
	if msgs[0].From != "noreply@waxseal.test" || !slices.Equal(msgs[0].To, []string{"alice@example.test"}) {
		t.Errorf("envelope = %q -> %q", msgs[0].From, msgs[0].To)
	}
	if !bytes.Equal(msgs[0].Data, testMessage) {
		t.Errorf("message bytes = %q, want %q", msgs[0].Data, testMessage)
	}
	logs := env.logs.String()
	if !strings.Contains(logs, "mail_id=1") || !strings.Contains(logs, "recipients=1") {
		t.Errorf("log lacks the mail id or recipient count:\n%s", logs)
	}
}

func TestDrainerRetriesTemporaryFailure(t *testing.T) {
	be, port := startServer(t, serverOpts{})
	be.setDataErr(&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "greylisted"})
	d, env := newDrainerEnv(t, newTestSMTP(t, SMTPConfig{Port: port}), DrainerConfig{})
	id := env.enqueue()
	start := env.clock.Now()

	drainOnce(t, d, 0, 1)
	m, ok := env.outbox.get(id)
	if !ok {
		t.Fatal("temporarily failed mail left the outbox")
	}
	if m.Attempts != 1 {
		t.Errorf("Attempts = %d, want 1", m.Attempts)
	}
	if want := start.Add(30 * time.Second); !m.NextAttempt.Equal(want) {
		t.Errorf("NextAttempt = %v, want %v (now + first backoff)", m.NextAttempt, want)
	}
	if !strings.Contains(m.LastError, "451") || !strings.Contains(m.LastError, "send mail 1") {
		t.Errorf("LastError = %q", m.LastError)
	}
	if env.gaveUp.count() != 0 {
		t.Error("OnGiveUp called for a temporary failure")
	}

	// Not due yet: nothing is tried.
	be.setDataErr(nil)
	env.clock.Advance(29 * time.Second)
	drainOnce(t, d, 0, 0)

	env.clock.Advance(time.Second)
	drainOnce(t, d, 1, 0)
	if _, ok := env.outbox.get(id); ok {
		t.Error("delivered mail is still in the outbox")
	}
	if msgs := be.messages(); len(msgs) != 1 || !bytes.Equal(msgs[0].Data, testMessage) {
		t.Errorf("server got %d messages, want the test message once", len(msgs))
	}
	if _, data := be.counts(); data != 2 {
		t.Errorf("server saw %d DATA commands, want 2", data)
	}
}

func TestDrainerGivesUpOnPermanentFailure(t *testing.T) {
	be, port := startServer(t, serverOpts{})
	be.setDataErr(&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
	d, env := newDrainerEnv(t, newTestSMTP(t, SMTPConfig{Port: port}), DrainerConfig{})
	id := env.enqueue()

	drainOnce(t, d, 0, 1)
	if _, ok := env.outbox.get(id); ok {
		t.Error("permanently failed mail is still in the outbox")
	}
	g := env.gaveUp
	if g.count() != 1 {
		t.Fatalf("OnGiveUp called %d times, want 1", g.count())
	}
	if g.mails[0].ID != id || g.mails[0].Attempts != 1 || !strings.Contains(g.mails[0].LastError, "550") {
		t.Errorf("OnGiveUp got mail %+v", g.mails[0])
	}
	if !IsPermanent(g.errs[0]) {
		t.Errorf("OnGiveUp error %v is not permanent", g.errs[0])
	}
}

func TestDrainerServerDownIsTemporary(t *testing.T) {
	d, env := newDrainerEnv(t, newTestSMTP(t, SMTPConfig{Port: closedPort(t)}), DrainerConfig{})
	id := env.enqueue()
	drainOnce(t, d, 0, 1)
	m, ok := env.outbox.get(id)
	if !ok || m.Attempts != 1 || m.LastError == "" {
		t.Errorf("mail after a refused connection: %+v (present %v)", m, ok)
	}
	if env.gaveUp.count() != 0 {
		t.Error("OnGiveUp called when the server was down")
	}
}

// senderFunc adapts a function to Sender.
type senderFunc func(ctx context.Context, from string, to []string, msg []byte) error

func (f senderFunc) Send(ctx context.Context, from string, to []string, msg []byte) error {
	return f(ctx, from, to, msg)
}

var errTemp = errors.New("try again")

func TestDrainerBackoffDoublesAndCaps(t *testing.T) {
	d, env := newDrainerEnv(t, senderFunc(func(context.Context, string, []string, []byte) error { return errTemp }), DrainerConfig{MaxAge: -1})
	id := env.enqueue()
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute,
		16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour, time.Hour}
	for i, w := range want {
		drainOnce(t, d, 0, 1)
		m, _ := env.outbox.get(id)
		if m.Attempts != i+1 {
			t.Fatalf("Attempts = %d, want %d", m.Attempts, i+1)
		}
		if got := m.NextAttempt.Sub(env.clock.Now()); got != w {
			t.Errorf("after failure %d backoff = %v, want %v", i+1, got, w)
		}
		env.clock.Advance(w)
	}
	if d.backoff(1000) != time.Hour {
		t.Errorf("backoff(1000) = %v, want the 1h cap", d.backoff(1000))
	}
}

func TestDrainerGivesUpAfterMaxAttempts(t *testing.T) {
	d, env := newDrainerEnv(t, senderFunc(func(context.Context, string, []string, []byte) error { return errTemp }),
		DrainerConfig{MaxAttempts: 3})
	id := env.enqueue()
	for range 2 {
		drainOnce(t, d, 0, 1)
		env.clock.Advance(time.Hour)
	}
	if _, ok := env.outbox.get(id); !ok || env.gaveUp.count() != 0 {
		t.Fatal("mail given up before its third attempt")
	}
	drainOnce(t, d, 0, 1)
	if _, ok := env.outbox.get(id); ok {
		t.Error("mail still queued after MaxAttempts")
	}
	if env.gaveUp.count() != 1 || env.gaveUp.mails[0].Attempts != 3 || !errors.Is(env.gaveUp.errs[0], errTemp) {
		t.Errorf("OnGiveUp: %d calls, %+v", env.gaveUp.count(), env.gaveUp.mails)
	}
}

func TestDrainerGivesUpAfterMaxAge(t *testing.T) {
	d, env := newDrainerEnv(t, senderFunc(func(context.Context, string, []string, []byte) error { return errTemp }), DrainerConfig{})
	id := env.enqueue()
	env.clock.Advance(47 * time.Hour)
	drainOnce(t, d, 0, 1)
	if _, ok := env.outbox.get(id); !ok {
		t.Fatal("mail given up before 48h")
	}
	env.clock.Advance(time.Hour)
	drainOnce(t, d, 0, 1)
	if _, ok := env.outbox.get(id); ok || env.gaveUp.count() != 1 {
		t.Errorf("mail 48h old not given up (OnGiveUp calls: %d)", env.gaveUp.count())
	}
}

func TestDrainerOldMailGetsOneTry(t *testing.T) {
	// The drainer was down for longer than MaxAge: the mail is still sent.
	var sent int
	d, env := newDrainerEnv(t, senderFunc(func(context.Context, string, []string, []byte) error { sent++; return nil }), DrainerConfig{})
	env.enqueue()
	env.clock.Advance(72 * time.Hour)
	drainOnce(t, d, 1, 0)
	if sent != 1 || env.gaveUp.count() != 0 {
		t.Errorf("sent %d, gave up %d; want the old mail sent", sent, env.gaveUp.count())
	}
}

func TestDrainerKeepsMailWhenDeleteFails(t *testing.T) {
	d, env := newDrainerEnv(t, senderFunc(func(context.Context, string, []string, []byte) error { return nil }), DrainerConfig{})
	id := env.enqueue()
	env.outbox.setDeleteErr(errors.New("disk on fire"))
	sent, _, err := d.DrainOnce(context.Background())
	if err == nil || sent != 0 {
		t.Errorf("DrainOnce = %d sent, err %v; want the delete failure reported", sent, err)
	}
	if m, ok := env.outbox.get(id); !ok || m.Attempts != 0 {
		t.Errorf("mail after failed delete: %+v present %v; want it untouched", m, ok)
	}
}

func TestDrainerCancelDuringSendLeavesMail(t *testing.T) {
	started := make(chan struct{})
	block := senderFunc(func(ctx context.Context, _ string, _ []string, _ []byte) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	d, env := newDrainerEnv(t, block, DrainerConfig{})
	id := env.enqueue()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	_, _, err := d.DrainOnce(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("DrainOnce err = %v, want context.Canceled", err)
	}
	m, ok := env.outbox.get(id)
	if !ok || m.Attempts != 0 || !m.NextAttempt.Equal(env.clock.Now()) {
		t.Errorf("mail after cancel: %+v present %v; want it untouched and still due", m, ok)
	}
}

func TestDrainerBatches(t *testing.T) {
	var mu sync.Mutex
	var got int
	d, env := newDrainerEnv(t, senderFunc(func(context.Context, string, []string, []byte) error {
		mu.Lock()
		got++
		mu.Unlock()
		return nil
	}), DrainerConfig{Batch: 2})
	for range 5 {
		env.enqueue()
	}
	drainOnce(t, d, 2, 0)
	// Run drains the rest in one go rather than one batch per interval.
	d.drainAll(context.Background())
	if n, _ := env.outbox.OutboxDepth(context.Background()); n != 0 || got != 5 {
		t.Errorf("after drainAll: depth %d, sent %d; want 0, 5", n, got)
	}
}

func TestDrainerRunAndKick(t *testing.T) {
	be, port := startServer(t, serverOpts{})
	// An interval far longer than the test: only Kick can deliver in time.
	d, env := newDrainerEnv(t, newTestSMTP(t, SMTPConfig{Port: port}), DrainerConfig{Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	// Let Run's immediate first pass find the outbox empty, then enqueue and kick.
	select {
	case <-env.outbox.polled:
	case <-time.After(5 * time.Second):
		t.Fatal("Run made no first pass")
	}
	id := env.enqueue()
	d.Kick()
	d.Kick() // a second kick must not block
	// The delete follows the server's reply; an undelivered kick leaves the
	// test to go test's timeout.
	if got := <-env.outbox.deleted; got != id {
		t.Fatalf("deleted mail %d, want the kicked %d", got, id)
	}

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop after cancel")
	}
	if msgs := be.messages(); len(msgs) != 1 || !bytes.Equal(msgs[0].Data, testMessage) {
		t.Errorf("server got %d messages, want the test message once", len(msgs))
	}
}

func TestDrainerRunDrainsAtStart(t *testing.T) {
	sent := make(chan struct{}, 1)
	// An interval far longer than the test: only the first pass at start sends.
	d, env := newDrainerEnv(t, senderFunc(func(ctx context.Context, _ string, _ []string, _ []byte) error {
		select {
		case sent <- struct{}{}:
		case <-ctx.Done():
		}
		return nil
	}), DrainerConfig{Interval: time.Hour})
	env.enqueue()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	<-sent
}
