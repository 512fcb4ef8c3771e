package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/mailer"
)

// heldSender holds the first Send until released, after its context ended.
type heldSender struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (s *heldSender) Send(ctx context.Context, from string, to []string, msg []byte) error {
	s.once.Do(func() { close(s.entered) })
	<-ctx.Done()
	<-s.release
	return ctx.Err()
}

// pipeListener is a listener with no connections: Accept waits until Close.
type pipeListener struct {
	closed chan struct{}
	once   sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) { <-l.closed; return nil, net.ErrClosed }
func (l *pipeListener) Close() error              { l.once.Do(func() { close(l.closed) }); return nil }
func (l *pipeListener) Addr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// The key server closes its store when serve returns: serve must wait for the mail
// drainer (here in the middle of a send) rather than return on shutdown and let
// the store close under it.
func TestKeyServerShutdownWaitsForDrainer(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if code := run(t.Context(), []string{"init", "--dir", dir, "--public-url", "http://localhost:8080"}, nil, &out, &out); code != 0 {
		t.Fatalf("init: %s", out.String())
	}
	fc, err := loadConfig(dir + "/waxseal.toml")
	if err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		p, err := openKeyServer(fc, log)
		if err != nil {
			t.Fatal(err)
		}
		defer p.close()
		sender := &heldSender{entered: make(chan struct{}), release: make(chan struct{})}
		p.drainer = mailer.NewDrainer(p.store, sender, mailer.DrainerConfig{Logger: log})
		if _, err := p.store.EnqueueMail(t.Context(), keyserver.OutboxMail{From: "waxseal@hospital.example",
			To: []string{"bob@patient.example"}, Message: []byte("Subject: code\r\n\r\n123456\r\n"), Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		served := make(chan error, 1)
		go func() { served <- p.serve(ctx, &pipeListener{closed: make(chan struct{})}) }()
		<-sender.entered
		cancel()
		synctest.Wait() // everything that can move on after the cancel has
		select {
		case err := <-served:
			close(sender.release) // let the drainer end, so the bubble can
			t.Fatalf("serve returned (%v) while the drainer was still sending", err)
		default:
		}
		close(sender.release)
		if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("serve: %v", err)
		}
	})
}
