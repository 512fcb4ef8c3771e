package mailer

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func TestSMTPDeliversExactBytes(t *testing.T) {
	be, port := startServer(t, serverOpts{})
	s := newTestSMTP(t, SMTPConfig{Port: port})
	to := []string{"alice@example.test", "bob@example.test"}
	if err := s.Send(context.Background(), "noreply@waxseal.test", to, testMessage); err != nil {
		t.Fatal(err)
	}
	msgs := be.messages()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if got.From != "noreply@waxseal.test" {
		t.Errorf("envelope from = %q", got.From)
	}
	if !slices.Equal(got.To, to) {
		t.Errorf("envelope to = %q, want %q", got.To, to)
	}
	if !bytes.Equal(got.Data, testMessage) {
		t.Errorf("message bytes differ:\ngot  %q\nwant %q", got.Data, testMessage)
	}
}

func TestSMTPClassifiesReplies(t *testing.T) {
	for _, tc := range []struct {
		name      string
		reply     *smtp.SMTPError
		permanent bool
	}{
		{"451 temporary", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}, false},
		{"550 permanent", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}, true},
		{"552 permanent", &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "too big"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be, port := startServer(t, serverOpts{})
			be.setDataErr(tc.reply)
			s := newTestSMTP(t, SMTPConfig{Port: port})
			err := s.Send(context.Background(), "a@waxseal.test", []string{"b@example.test"}, testMessage)
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if IsUncertain(err) {
				t.Errorf("a reply to the end of data is no uncertain outcome: %v", err)
			}
			if IsPermanent(err) != tc.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, !tc.permanent, tc.permanent)
			}
			var se *smtp.SMTPError
			if !errors.As(err, &se) || se.Code != tc.reply.Code {
				t.Errorf("error %v does not carry the %d reply", err, tc.reply.Code)
			}
			if strings.Contains(err.Error(), testCode) {
				t.Errorf("error contains the message body: %v", err)
			}
		})
	}
}

func TestSMTPServerDownIsTemporary(t *testing.T) {
	s := newTestSMTP(t, SMTPConfig{Port: closedPort(t)})
	err := s.Send(context.Background(), "a@waxseal.test", []string{"b@example.test"}, testMessage)
	if err == nil {
		t.Fatal("Send to a closed port succeeded")
	}
	if IsPermanent(err) {
		t.Errorf("connection refused classified permanent: %v", err)
	}
}

func TestSMTPStartTLSRequired(t *testing.T) {
	be, port := startServer(t, serverOpts{}) // offers no STARTTLS
	s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSStartTLS})
	err := s.Send(context.Background(), "a@waxseal.test", []string{"b@example.test"}, testMessage)
	if err == nil {
		t.Fatal("Send without STARTTLS succeeded")
	}
	if IsPermanent(err) {
		t.Errorf("missing STARTTLS classified permanent: %v", err)
	}
	if mail, data := be.counts(); mail != 0 || data != 0 {
		t.Errorf("server saw %d MAIL and %d DATA in plaintext, want none", mail, data)
	}
	if n := len(be.messages()); n != 0 {
		t.Errorf("server captured %d messages", n)
	}
}

func TestSMTPStartTLSSelfSigned(t *testing.T) {
	cert, pool := selfSigned(t)
	be, port := startServer(t, serverOpts{
		starttls: &tls.Config{Certificates: []tls.Certificate{cert}},
		user:     "mailer",
		pass:     "hunter2",
	})
	s := newTestSMTP(t, SMTPConfig{
		Port:      port,
		TLS:       TLSStartTLS,
		Username:  "mailer",
		Password:  "hunter2",
		HELOName:  "keys.waxseal.test",
		TLSConfig: &tls.Config{RootCAs: pool},
	})
	if err := s.Send(context.Background(), "a@waxseal.test", []string{"b@example.test"}, testMessage); err != nil {
		t.Fatal(err)
	}
	msgs := be.messages()
	if len(msgs) != 1 || !bytes.Equal(msgs[0].Data, testMessage) {
		t.Fatalf("server got %d messages (%q), want the test message", len(msgs), msgs)
	}
	be.mu.Lock()
	authed := slices.Clone(be.authed)
	be.mu.Unlock()
	if !slices.Equal(authed, []string{"mailer"}) {
		t.Errorf("authenticated as %q, want [mailer]", authed)
	}
}

func TestSMTPStartTLSUntrustedCert(t *testing.T) {
	cert, _ := selfSigned(t)
	_, otherPool := selfSigned(t)
	be, port := startServer(t, serverOpts{starttls: &tls.Config{Certificates: []tls.Certificate{cert}}})
	s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSStartTLS, TLSConfig: &tls.Config{RootCAs: otherPool}})
	err := s.Send(context.Background(), "a@waxseal.test", []string{"b@example.test"}, testMessage)
	if err == nil {
		t.Fatal("Send trusted a certificate it should not")
	}
	if IsPermanent(err) {
		t.Errorf("certificate failure classified permanent: %v", err)
	}
	if mail, data := be.counts(); mail != 0 || data != 0 {
		t.Errorf("server saw %d MAIL and %d DATA, want none", mail, data)
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	be, port := startServer(t, serverOpts{implicit: &tls.Config{Certificates: []tls.Certificate{cert}}})
	s := newTestSMTP(t, SMTPConfig{Port: port, TLS: TLSImplicit, TLSConfig: &tls.Config{RootCAs: pool}})
	if err := s.Send(context.Background(), "a@waxseal.test", []string{"b@example.test"}, testMessage); err != nil {
		t.Fatal(err)
	}
	if msgs := be.messages(); len(msgs) != 1 || !bytes.Equal(msgs[0].Data, testMessage) {
		t.Fatalf("server got %q, want the test message", msgs)
	}
}

func TestSMTPAuthFailureIsTemporary(t *testing.T) {
	cert, pool := selfSigned(t)
	be, port := startServer(t, serverOpts{
		starttls: &tls.Config{Certificates: []tls.Certificate{cert}},
		user:     "mailer",
		pass:     "right",
	})
	s := newTestSMTP(t, SMTPConfig{
		Port: port, TLS: TLSStartTLS, Username: "mailer", Password: "wrong",
		TLSConfig: &tls.Config{RootCAs: pool},
	})
	err := s.Send(context.Background(), "a@waxseal.test", []string{"b@example.test"}, testMessage)
	if err == nil {
		t.Fatal("Send with a wrong password succeeded")
	}
	// A 535 is the operator's to fix; the queued mail must survive it.
	if IsPermanent(err) {
		t.Errorf("auth failure classified permanent: %v", err)
	}
	if mail, _ := be.counts(); mail != 0 {
		t.Errorf("server saw %d MAIL commands after failed auth", mail)
	}
}

func TestSMTPTimeout(t *testing.T) {
	// A listener that accepts but never greets: Send must give up on its own.
	l := startSilentListener(t)
	s := newTestSMTP(t, SMTPConfig{Port: l, Timeout: 200 * time.Millisecond})
	start := time.Now()
	err := s.Send(context.Background(), "a@waxseal.test", []string{"b@example.test"}, testMessage)
	if err == nil {
		t.Fatal("Send to a silent server succeeded")
	}
	if IsPermanent(err) {
		t.Errorf("timeout classified permanent: %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not say the deadline passed", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send took %v despite a 200ms timeout", d)
	}
}

func TestSMTPBadInputIsPermanent(t *testing.T) {
	s := newTestSMTP(t, SMTPConfig{Port: closedPort(t)})
	for _, tc := range []struct {
		name string
		from string
		to   []string
		msg  []byte
	}{
		{"no recipients", "a@x.test", nil, testMessage},
		{"empty message", "a@x.test", []string{"b@x.test"}, nil},
		{"CRLF in recipient", "a@x.test", []string{"b@x.test\r\nDATA"}, testMessage},
		{"CRLF in sender", "a@x.test\r\nRSET", []string{"b@x.test"}, testMessage},
	} {
		err := s.Send(context.Background(), tc.from, tc.to, tc.msg)
		if !IsPermanent(err) {
			t.Errorf("%s: err = %v, want permanent", tc.name, err)
		}
	}
}

func TestNewSMTPConfig(t *testing.T) {
	if _, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", TLS: TLSNone, Username: "u", Password: "p"}); err == nil {
		t.Error("NewSMTP accepted a password over plaintext")
	}
	if _, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", TLS: "ssl"}); err == nil {
		t.Error("NewSMTP accepted an unknown TLS mode")
	}
	if _, err := NewSMTP(SMTPConfig{}); err == nil {
		t.Error("NewSMTP accepted no host")
	}
	s, err := NewSMTP(SMTPConfig{Host: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.TLS != TLSStartTLS || s.cfg.Port != 587 || s.addr != "127.0.0.1:587" {
		t.Errorf("defaults: mode %q port %d addr %q", s.cfg.TLS, s.cfg.Port, s.addr)
	}
	if s.tls.ServerName != "127.0.0.1" {
		t.Errorf("TLS ServerName = %q, want the host", s.tls.ServerName)
	}
}

// TestSMTPSendGated: the message is delivered only when the gate lets it; when
// the gate refuses, the connection drops before the end of data and the server
// has nothing.
func TestSMTPSendGated(t *testing.T) {
	be, port := startServer(t, serverOpts{})
	s := newTestSMTP(t, SMTPConfig{Port: port})
	to := []string{"alice@example.test"}
	refused := errors.New("keys not registered")
	var gated int
	err := s.SendGated(context.Background(), "noreply@waxseal.test", to, testMessage, func(context.Context) error {
		gated++
		if n := len(be.messages()); n != 0 {
			t.Errorf("the server has %d messages before the gate opened", n)
		}
		return refused
	})
	if !errors.Is(err, refused) || gated != 1 {
		t.Fatalf("SendGated with a refusing gate: %v (gate called %d times)", err, gated)
	}
	<-be.dataEnded // the server saw the connection drop
	if n := len(be.messages()); n != 0 {
		t.Fatalf("the server took %d messages the gate refused", n)
	}
	if err := s.SendGated(context.Background(), "noreply@waxseal.test", to, testMessage, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if msgs := be.messages(); len(msgs) != 1 || !bytes.Equal(msgs[0].Data, testMessage) {
		t.Fatalf("server got %d messages, want the one the gate let through", len(msgs))
	}
}

// With phase timeouts the wait for the reply to the end of data is its own:
// longer than the command timeout, and when it runs out the outcome is
// uncertain (the server may have taken the message), not a refusal.
func TestSMTPFinalReplyPhase(t *testing.T) {
	be, port := startServer(t, serverOpts{})
	release := make(chan struct{})
	be.mu.Lock()
	be.hold = release
	be.mu.Unlock()
	const command = 50 * time.Millisecond
	slow := newTestSMTP(t, SMTPConfig{Port: port, Phases: &PhaseTimeouts{Command: command, FinalReply: time.Minute}})
	done := make(chan error, 1)
	go func() {
		done <- slow.Send(context.Background(), "a@waxseal.test", []string{"b@example.test"}, testMessage)
	}()
	// Several command timeouts pass before the reply: what is tested is that
	// time passing does no harm.
	<-time.After(5 * command)
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("a reply after the command timeout but within the final-reply wait: %v", err)
	}

	be.mu.Lock()
	be.hold = make(chan struct{}) // never answered
	hold := be.hold
	be.mu.Unlock()
	t.Cleanup(func() { close(hold) })
	short := newTestSMTP(t, SMTPConfig{Port: port, Phases: &PhaseTimeouts{FinalReply: 100 * time.Millisecond}})
	err := short.Send(context.Background(), "a@waxseal.test", []string{"b@example.test"}, testMessage)
	if err == nil || !IsUncertain(err) || IsPermanent(err) {
		t.Fatalf("no reply to the end of data: %v, want an uncertain, temporary error", err)
	}
	if strings.Contains(err.Error(), testCode) {
		t.Errorf("error contains the message body: %v", err)
	}
}
