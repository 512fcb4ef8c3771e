package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
	"github.com/waxseal/waxseal/keyserver/boltstore"
	"github.com/waxseal/waxseal/keyserver/client"
	"github.com/waxseal/waxseal/keyserver/httpapi"
	"github.com/waxseal/waxseal/keyserver/mailer"
	"github.com/waxseal/waxseal/server/policy"
	"github.com/waxseal/waxseal/server/spool"
)

const (
	gatewayToken = "gateway-token-for-tests-0123456789"
	publicURL    = "http://localhost:8080"
	testPassword = "correct horse battery"
)

// --- the next hop: a capturing SMTP server on loopback ---

type received struct {
	From string
	To   []string
	Data []byte
	TLS  bool
}

type hop struct {
	t    testing.TB
	addr string
	gate *gateListener
	srv  *smtp.Server
	mu   sync.Mutex
	got  []received
	// fail, if set, answers DATA with it; refuse does for a copy to one of its
	// recipients.
	fail   *smtp.SMTPError
	refuse map[string]*smtp.SMTPError
	// discard keeps only a count (benchmarks).
	discard bool
	count   int
	cert    *tls.Certificate
	// hold, if set, runs once a copy's data is all read and before it is
	// answered: a next hop that is slow to reply to the end of data.
	hold func(to []string)
	// dataEnded receives when a Data call returns, its message taken or not.
	dataEnded chan struct{}
}

type hopOptions struct {
	startTLS bool
}

// gateListener is the hop's listener: while down, it closes every connection
// at once, as a next hop that is down refuses them, and it keeps the port, so
// that the hop comes back on the same address without binding it again
// (another process could take a freed port meanwhile).
type gateListener struct {
	net.Listener
	down atomic.Bool
}

func (l *gateListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || !l.down.Load() {
			return c, err
		}
		c.Close()
	}
}

func startHop(t testing.TB, opt hopOptions) *hop {
	t.Helper()
	h := &hop{t: t, dataEnded: make(chan struct{}, 64)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.gate = &gateListener{Listener: ln}
	h.addr = ln.Addr().String()
	h.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &hopSession{h: h, c: c}, nil }))
	h.srv.Domain = "hop.test"
	h.srv.AllowInsecureAuth = true
	h.srv.EnableSMTPUTF8 = true
	if opt.startTLS {
		cert := selfSigned(t)
		h.cert = &cert
		h.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	go h.srv.Serve(h.gate)
	t.Cleanup(func() { h.srv.Close() })
	return h
}

// stop takes the hop down: connections to it are closed at once.
func (h *hop) stop() { h.gate.down.Store(true) }

// restart brings the hop back up on the same address.
func (h *hop) restart() { h.gate.down.Store(false) }

func (h *hop) setHold(f func(to []string)) {
	h.mu.Lock()
	h.hold = f
	h.mu.Unlock()
}

// received returns what the hop accepted so far.
func (h *hop) received() []received {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]received(nil), h.got...)
}

// to returns the messages the hop accepted for rcpt.
func (h *hop) to(rcpt string) []received {
	var out []received
	for _, r := range h.received() {
		for _, x := range r.To {
			if strings.EqualFold(x, rcpt) {
				out = append(out, r)
			}
		}
	}
	return out
}

type hopSession struct {
	h    *hop
	c    *smtp.Conn
	from string
	to   []string
}

func (s *hopSession) Reset()        { s.from, s.to = "", nil }
func (s *hopSession) Logout() error { return nil }
func (s *hopSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *hopSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = append(s.to, to); return nil }
func (s *hopSession) Data(r io.Reader) error {
	defer func() {
		select {
		case s.h.dataEnded <- struct{}{}:
		default:
		}
	}()
	s.h.mu.Lock()
	discard := s.h.discard
	s.h.mu.Unlock()
	if discard {
		// A benchmark's next hop stands in for an MTA, which spools the data
		// without holding it all in a growing buffer.
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
		s.h.mu.Lock()
		defer s.h.mu.Unlock()
		if s.h.fail != nil {
			return s.h.fail
		}
		s.h.count++
		return nil
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.h.mu.Lock()
	hold := s.h.hold
	s.h.mu.Unlock()
	if hold != nil {
		hold(s.to)
	}
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	if s.h.fail != nil {
		return s.h.fail
	}
	for _, r := range s.to {
		if err := s.h.refuse[r]; err != nil {
			return err
		}
	}
	_, isTLS := s.c.TLSConnectionState()
	s.h.got = append(s.h.got, received{From: s.from, To: s.to, Data: b, TLS: isTLS})
	return nil
}

func selfSigned(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// --- the key server: keyserver.Service over httptest with bbolt ---

type keyServer struct {
	t     testing.TB
	svc   *keyserver.Service
	store *boltstore.Store
	srv   *httptest.Server
}

func startKeyServer(t testing.TB) *keyServer {
	t.Helper()
	svc, st, err := newKeyServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := httptest.NewServer(httpapi.New(svc))
	t.Cleanup(srv.Close)
	return &keyServer{t: t, svc: svc, store: st, srv: srv}
}

// newKeyServer is a key server for tests, its bbolt file in dir.
func newKeyServer(dir string) (*keyserver.Service, *boltstore.Store, error) {
	return newKeyServerLogging(dir, io.Discard)
}

// newKeyServerLogging is newKeyServer with the key server's logs, at every
// level, written to logs.
func newKeyServerLogging(dir string, logs io.Writer) (*keyserver.Service, *boltstore.Store, error) {
	return newKeyServerClock(dir, logs, nil)
}

// newKeyServerClock is newKeyServerLogging on the clock now (nil: the time).
func newKeyServerClock(dir string, logs io.Writer, now func() time.Time) (*keyserver.Service, *boltstore.Store, error) {
	st, err := boltstore.Open(filepath.Join(dir, "waxseal.db"), boltstore.Options{})
	if err != nil {
		return nil, nil, err
	}
	var master [32]byte
	copy(master[:], "master key for tests only 012345")
	svc, err := keyserver.New(keyserver.Config{
		PublicURL:     publicURL,
		MasterKey:     master,
		GatewayTokens: []string{keyserver.HashToken(gatewayToken)},
		AdminTokens:   []string{keyserver.HashToken("admin-token-for-tests-0123456789ab")},
		OrgDomains:    []string{"hospital.example"},
		Argon2:        keyserver.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1},
		Logger:        slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:           now,
	}, st)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return svc, st, nil
}

func (k *keyServer) client() *client.Client { return client.New(k.srv.URL, gatewayToken, nil) }

// browser is a recipient's session at the key server.
type browser struct {
	k      *keyServer
	cookie string
}

func (b *browser) call(method, path string, body any) (int, map[string]any) {
	b.k.t.Helper()
	j, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, b.k.srv.URL+path, bytes.NewReader(j))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(api.CSRFHeader, "1")
	req.Header.Set("Origin", publicURL)
	if b.cookie != "" {
		req.AddCookie(&http.Cookie{Name: "waxseal", Value: b.cookie})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.k.t.Fatal(err)
	}
	defer resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "waxseal" {
			b.cookie = c.Value
		}
	}
	out := map[string]any{}
	raw, _ := io.ReadAll(resp.Body)
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

var codeRE = regexp.MustCompile(`\b(\d{6})\b`)

// code reads the newest code the key server queued for addr.
func (k *keyServer) code(addr string) string {
	k.t.Helper()
	due, err := k.store.DueMail(context.Background(), time.Now().Add(time.Hour), 1000)
	if err != nil {
		k.t.Fatal(err)
	}
	for i := len(due) - 1; i >= 0; i-- {
		if len(due[i].To) == 1 && due[i].To[0] == addr {
			m, _ := mail.ReadMessage(bytes.NewReader(due[i].Message))
			body, _ := io.ReadAll(quotedprintable.NewReader(m.Body))
			if c := codeRE.FindSubmatch(body); c != nil {
				return string(c[1])
			}
		}
	}
	k.t.Fatalf("no code for %s", addr)
	return ""
}

// openAs registers the recipient (first time), signs in, has the key released,
// and opens the envelope file: what the browser does.
func (k *keyServer) openAs(b *browser, f *envelope.File) []byte {
	k.t.Helper()
	id := f.Header.ID.String()
	if b.cookie == "" {
		if st, out := b.call("POST", "/api/v1/register/start", map[string]string{"envelope_id": id, "first_name": "Bob", "last_name": "Patient"}); st != http.StatusAccepted {
			k.t.Fatalf("register/start: %d %v", st, out)
		}
		if st, out := b.call("POST", "/api/v1/register/verify", map[string]string{"envelope_id": id, "code": k.code(f.Header.To)}); st != http.StatusOK {
			k.t.Fatalf("register/verify: %d %v", st, out)
		}
		if st, out := b.call("POST", "/api/v1/account/password", map[string]string{"password": testPassword}); st != http.StatusNoContent {
			k.t.Fatalf("password: %d %v", st, out)
		}
	}
	st, out := b.call("POST", "/api/v1/envelopes/"+id+"/key", nil)
	if st != http.StatusOK {
		k.t.Fatalf("release %s: %d %v", id, st, out)
	}
	key, err := envelope.ParseKey(out["server_key"].(string))
	if err != nil {
		k.t.Fatal(err)
	}
	msg, err := f.Open(key)
	if err != nil {
		k.t.Fatal(err)
	}
	return msg
}

// --- the gateway ---

type gw struct {
	t     testing.TB
	g     *Gateway
	addr  string
	hop   *hop
	ks    *keyServer
	spool *spool.Spool
	logs  *bytes.Buffer
}

type gwOptions struct {
	registrar Registrar // default: the key server's client
	noSpool   bool
	tweak     func(*Config)
	hopTLS    bool
	// relayTimeouts are the relay's phase timeouts (zero: RFC 5321's).
	relayTimeouts mailer.PhaseTimeouts
}

func newPolicy(t testing.TB) *policy.Policy {
	tr, err := policy.NewTriggers(policy.DefaultPhrases, policy.DefaultPrefixes)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.New(policy.Config{InternalDomains: []string{"hospital.example"}, SecureChannelDomains: []string{"partner.example"},
		ForcedTLSDomains: []string{"insurer.example"}, Triggers: tr})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func startGateway(t testing.TB, opt gwOptions) *gw {
	t.Helper()
	e := &gw{t: t, hop: startHop(t, hopOptions{startTLS: opt.hopTLS}), ks: startKeyServer(t), logs: &bytes.Buffer{}}
	host, port, _ := net.SplitHostPort(e.hop.addr)
	var roots *x509.CertPool
	if e.hop.cert != nil {
		roots = x509.NewCertPool()
		roots.AddCert(e.hop.cert.Leaf)
	}
	relay, err := NewSMTPRelay(RelayConfig{Host: host, Port: atoi(port), TLS: mailer.TLSNone, HELOName: "gateway.test",
		TLSConfig: &tls.Config{RootCAs: roots}, Timeouts: opt.relayTimeouts})
	if err != nil {
		t.Fatal(err)
	}
	if !opt.noSpool {
		if e.spool, err = spool.Open(t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	reg := opt.registrar
	if reg == nil {
		reg = e.ks.client()
	}
	cfg := Config{
		Hostname:        "gateway.test",
		ClientNetworks:  []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Relay:           relay,
		Policy:          newPolicy(t),
		KeyServer:       reg,
		KeyServerURL:    publicURL,
		RegisterTimeout: 2 * time.Second,
		Online:          true,
		Spool:           e.spool,
		RetryFirst:      time.Hour, // tests call RetryOnce
		Logger:          slog.New(slog.NewJSONHandler(&lockedWriter{w: e.logs}, nil)),
	}
	if opt.noSpool {
		cfg.Spool = nil
	}
	if opt.tweak != nil {
		opt.tweak(&cfg)
	}
	if e.g, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.g.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// submit sends a message to the gateway as an MTA would and returns the reply
// to DATA (nil for 250).
func submit(t testing.TB, addr, from string, to []string, msg []byte) *smtp.SMTPError {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mta.hospital.example"); err != nil {
		t.Fatal(err)
	}
	err = c.SendMail(from, to, bytes.NewReader(msg))
	if err == nil {
		c.Quit()
		return nil
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	t.Fatalf("submit: %v", err)
	return nil
}

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func spoolEntry(to string) spool.Entry {
	return spool.Entry{From: "alice@hospital.example", To: []string{to}, Kind: kindOriginal, Created: time.Now()}
}

func newTestDrainer(ob *RemoteOutbox, g *Gateway) *mailer.Drainer {
	return mailer.NewDrainer(ob, g.OutboxSender(), mailer.DrainerConfig{Logger: slog.New(slog.DiscardHandler)})
}
