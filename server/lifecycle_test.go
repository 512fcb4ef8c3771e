package server

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/waxseal/waxseal/keyserver/client"
)

// ctxRegistrar hands the context of each registration to the test and holds the
// registration until that context ends.
type ctxRegistrar struct{ entered chan context.Context }

func (r ctxRegistrar) RegisterEnvelopes(ctx context.Context, _ []client.Registration) error {
	r.entered <- ctx
	<-ctx.Done()
	return ctx.Err()
}

// TestShutdownEndsSessions: a message still waiting on the key server when the
// shutdown grace runs out is cut off (its context ends) before Serve returns,
// rather than left running on context.Background() after the gateway stopped.
func TestShutdownEndsSessions(t *testing.T) {
	reg := ctxRegistrar{entered: make(chan context.Context, 1)}
	var cfg Config
	startGateway(t, gwOptions{registrar: reg, tweak: func(c *Config) {
		c.RegisterTimeout = time.Hour
		c.ShutdownGrace = time.Millisecond
		cfg = *c
	}})
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- g.Serve(ctx, ln) }()
	// The connection is cut at shutdown, so the client's error is not submit's.
	submitted := make(chan error, 1)
	go func() {
		c, err := smtp.Dial(ln.Addr().String())
		if err == nil {
			defer c.Close()
			err = c.SendMail("alice@hospital.example", []string{"bob@patient.example"}, bytes.NewReader(labMessage("PHI: results")))
		}
		submitted <- err
	}()
	var regCtx context.Context
	select {
	case regCtx = <-reg.entered:
	case err := <-submitted:
		t.Fatalf("submit ended before registering: %v", err)
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if regCtx.Err() == nil {
		t.Fatal("Serve returned with a message still registering: its context outlives the gateway")
	}
	if err := <-submitted; err == nil {
		t.Fatal("the message cut off at shutdown was accepted")
	}
}
