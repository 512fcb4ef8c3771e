package mailer

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/waxseal/waxseal/keyserver"
)

// ---- in-memory outbox ----

type fakeOutbox struct {
	mu        sync.Mutex
	next      uint64
	mails     map[uint64]keyserver.OutboxMail
	deleteErr error
	polled    chan struct{} // receives after each DueMail, if there is room
	deleted   chan uint64   // receives each deleted id, if there is room
}

func newFakeOutbox() *fakeOutbox {
	return &fakeOutbox{mails: map[uint64]keyserver.OutboxMail{}, polled: make(chan struct{}, 1), deleted: make(chan uint64, 16)}
}

func cloneMail(m keyserver.OutboxMail) keyserver.OutboxMail {
	m.To = slices.Clone(m.To)
	m.Message = bytes.Clone(m.Message)
	return m
}

func (f *fakeOutbox) enqueue(m keyserver.OutboxMail) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	m.ID = f.next
	f.mails[m.ID] = cloneMail(m)
	return m.ID
}

func (f *fakeOutbox) get(id uint64) (keyserver.OutboxMail, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.mails[id]
	return cloneMail(m), ok
}

func (f *fakeOutbox) setDeleteErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleteErr = err
}

func (f *fakeOutbox) DueMail(ctx context.Context, now time.Time, limit int) ([]keyserver.OutboxMail, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	defer func() {
		select {
		case f.polled <- struct{}{}:
		default:
		}
	}()
	f.mu.Lock()
	defer f.mu.Unlock()
	var due []keyserver.OutboxMail
	for _, m := range f.mails {
		if !m.NextAttempt.After(now) {
			due = append(due, cloneMail(m))
		}
	}
	slices.SortFunc(due, func(a, b keyserver.OutboxMail) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return int(a.ID) - int(b.ID)
	})
	if len(due) > limit {
		due = due[:limit]
	}
	return due, nil
}

func (f *fakeOutbox) UpdateMail(ctx context.Context, m keyserver.OutboxMail) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.mails[m.ID]; !ok {
		return keyserver.ErrNotFound
	}
	f.mails[m.ID] = cloneMail(m)
	return nil
}

func (f *fakeOutbox) DeleteMail(ctx context.Context, id uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.deleteErr != nil {
		return f.deleteErr
	}
	delete(f.mails, id)
	select {
	case f.deleted <- id:
	default:
	}
	return nil
}

func (f *fakeOutbox) OutboxDepth(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.mails), nil
}

// ---- clock ----

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// ---- capturing SMTP server ----

type received struct {
	From string
	To   []string
	Data []byte
}

// capture is a go-smtp backend that records what reaches it. Counters live here,
// not in sessions, because go-smtp starts a new session after STARTTLS.
type capture struct {
	mu       sync.Mutex
	msgs     []received
	mailCmds int
	dataCmds int
	dataErr  error // returned from Data, after reading the message
	user     string
	pass     string
	authed   []string // usernames that authenticated
	// hold, if set, delays the reply to the end of data until it is closed.
	hold chan struct{}
	// dataEnded receives when a Data call returns, its message taken or not.
	dataEnded chan struct{}
}

func (c *capture) setDataErr(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dataErr = err
}

func (c *capture) messages() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

func (c *capture) counts() (mail, data int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mailCmds, c.dataCmds
}

func (c *capture) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &captureSession{c: c}, nil
}

type captureSession struct {
	c      *capture
	from   string
	to     []string
	authed bool
}

func (s *captureSession) Reset()        { s.from, s.to = "", nil }
func (s *captureSession) Logout() error { return nil }

func (s *captureSession) AuthMechanisms() []string {
	if s.c.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *captureSession) Auth(mech string) (sasl.Server, error) {
	if s.c.user == "" || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != s.c.user || pass != s.c.pass {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		s.c.mu.Lock()
		s.c.authed = append(s.c.authed, user)
		s.c.mu.Unlock()
		return nil
	}), nil
}

func (s *captureSession) Mail(from string, _ *smtp.MailOptions) error {
	s.c.mu.Lock()
	s.c.mailCmds++
	s.c.mu.Unlock()
	if s.c.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *captureSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *captureSession) Data(r io.Reader) error {
	defer func() { s.c.dataEnded <- struct{}{} }()
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.c.mu.Lock()
	hold := s.c.hold
	s.c.mu.Unlock()
	if hold != nil {
		<-hold
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	s.c.dataCmds++
	if s.c.dataErr != nil {
		return s.c.dataErr
	}
	s.c.msgs = append(s.c.msgs, received{From: s.from, To: slices.Clone(s.to), Data: data})
	return nil
}

type serverOpts struct {
	starttls   *tls.Config // offer STARTTLS with this config
	implicit   *tls.Config // speak TLS from the start
	user, pass string      // require AUTH PLAIN
}

// startServer runs a capturing SMTP server on a random 127.0.0.1 port.
func startServer(t *testing.T, o serverOpts) (*capture, int) {
	t.Helper()
	be := &capture{user: o.user, pass: o.pass, dataEnded: make(chan struct{}, 64)}
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLSConfig = o.starttls
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.implicit != nil {
		l = tls.NewListener(l, o.implicit)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("smtp server: %v", err)
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return be, l.Addr().(*net.TCPAddr).Port
}

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "waxseal mailer test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

func newTestSMTP(t *testing.T, cfg SMTPConfig) *SMTP {
	t.Helper()
	cfg.Host = "127.0.0.1"
	if cfg.TLS == "" {
		cfg.TLS = TLSNone
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	s, err := NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testMessage has a line starting with a dot, to check dot-stuffing both ways,
// and a sign-in code that must never reach a log.
const testCode = "SECRET-483920"

var testMessage = []byte("From: Waxseal <noreply@waxseal.test>\r\n" +
	"To: alice@example.test\r\n" +
	"Subject: Your sign-in code\r\n" +
	"\r\n" +
	"Your code is " + testCode + ".\r\n" +
	".a line that starts with a dot\r\n" +
	"..\r\n" +
	"Bye.\r\n")

// closedPort returns a 127.0.0.1 port with nothing listening.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// startSilentListener accepts connections on 127.0.0.1 and never writes.
func startSilentListener(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}
