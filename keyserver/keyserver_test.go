package keyserver_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
	"github.com/waxseal/waxseal/keyserver/boltstore"
	"github.com/waxseal/waxseal/keyserver/client"
	"github.com/waxseal/waxseal/keyserver/httpapi"
)

const (
	gatewayToken = "gateway-token-for-tests-0123456789"
	adminToken   = "admin-token-for-tests-0123456789ab"
	password     = "correct horse battery"
)

// clock is a settable time for expiry and timeout tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a key server on loopback over a real bbolt file.
type env struct {
	t     testing.TB
	svc   *keyserver.Service
	store *boltstore.Store
	// served is the store the service runs on, when it is not store (a SQL
	// store in the store benchmarks): the outbox is read from it.
	served keyserver.Store
	srv    *httptest.Server
	clock  *clock
	logs   *bytes.Buffer
	dbPath string
	public string
}

func newEnv(t testing.TB, tweak ...func(*keyserver.Config)) *env {
	t.Helper()
	return newEnvOver(t, nil, tweak...)
}

// newEnvOver is newEnv with the service's store wrapped by wrap (nil: none), to
// make the store misbehave; env.store is still the bbolt store underneath.
func newEnvOver(t testing.TB, wrap func(keyserver.Store) keyserver.Store, tweak ...func(*keyserver.Config)) *env {
	t.Helper()
	return newEnvAt(t, t.TempDir(), wrap, tweak...)
}

// newEnvAt is newEnvOver with the database in dir.
func newEnvAt(t testing.TB, dir string, wrap func(keyserver.Store) keyserver.Store, tweak ...func(*keyserver.Config)) *env {
	t.Helper()
	dbPath := filepath.Join(dir, "waxseal.db")
	st, err := boltstore.Open(dbPath, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}
	logs := &bytes.Buffer{}
	var master [32]byte
	copy(master[:], "master key for tests only 012345")
	cfg := keyserver.Config{
		PublicURL:     "http://localhost:8080",
		MasterKey:     master,
		GatewayTokens: []string{keyserver.HashToken(gatewayToken)},
		AdminTokens:   []string{keyserver.HashToken(adminToken)},
		OrgDomains:    []string{"hospital.example"},
		Argon2:        keyserver.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1}, // fast for tests
		Logger:        slog.New(slog.NewJSONHandler(&lockedWriter{w: logs}, nil)),
		Now:           clk.Now,
	}
	for _, f := range tweak {
		f(&cfg)
	}
	var store keyserver.Store = st
	if wrap != nil {
		store = wrap(st)
	}
	svc, err := keyserver.New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(svc))
	t.Cleanup(srv.Close)
	return &env{t: t, svc: svc, store: st, srv: srv, clock: clk, logs: logs, dbPath: dbPath, public: cfg.PublicURL}
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

// sealed is a message sealed for one recipient and registered with the server.
type sealed struct {
	file      *envelope.File
	serverKey envelope.Key
	msg       []byte
}

// seal seals msg for each recipient and registers the keys through the gateway API.
func (e *env) seal(msg string, expires time.Time, recipients ...string) []sealed {
	e.t.Helper()
	p, ct := envelope.EncryptPayload([]byte(msg))
	var out []sealed
	var regs []client.Registration
	for _, r := range recipients {
		en, keys, err := p.Seal(envelope.Header{KeyServer: e.public, From: "Dr. Alice <alice@hospital.example>",
			To: r, Subject: "Results", Created: e.clock.Now(), Expires: expires})
		if err != nil {
			e.t.Fatal(err)
		}
		regs = append(regs, client.Registration{Envelope: en, ServerKey: keys.Server})
		out = append(out, sealed{file: &envelope.File{Envelope: *en, EnvKey: keys.Env, Ciphertext: ct}, serverKey: keys.Server, msg: []byte(msg)})
	}
	if err := client.New(e.srv.URL, gatewayToken, nil).RegisterEnvelopes(e.t.Context(), regs); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// browser is one person's session: it keeps the session cookie as a browser would.
type browser struct {
	e      *env
	cookie string
	origin string
	// lang is the browser's Accept-Language; langCookie the switcher's cookie.
	lang, langCookie string
}

func (e *env) browser() *browser { return &browser{e: e, origin: e.public} }

// call makes an API request and decodes the JSON answer into a map.
func (b *browser) call(method, path string, body any) (int, map[string]any) {
	b.e.t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequestWithContext(b.e.t.Context(), method, b.e.srv.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(api.CSRFHeader, "1")
	if b.origin != "" {
		req.Header.Set("Origin", b.origin)
	}
	if b.cookie != "" {
		req.AddCookie(&http.Cookie{Name: "waxseal", Value: b.cookie})
	}
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	if b.langCookie != "" {
		req.AddCookie(&http.Cookie{Name: "waxseal_lang", Value: b.langCookie})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "waxseal" {
			if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode {
				b.e.t.Errorf("session cookie lacks HttpOnly/Secure/SameSite=Lax: %v", c)
			}
			b.cookie = c.Value
			if c.MaxAge < 0 {
				b.cookie = ""
			}
		}
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		b.e.t.Errorf("%s %s: Cache-Control %q, want no-store", method, path, resp.Header.Get("Cache-Control"))
	}
	out := map[string]any{}
	raw, _ := io.ReadAll(resp.Body)
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// mailsTo returns the outbox messages to addr, oldest first.
func (e *env) mailsTo(addr string) []*mail.Message {
	e.t.Helper()
	e.svc.Wait() // codes asked for by address are written after the answer
	var outbox keyserver.Store = e.store
	if e.served != nil {
		outbox = e.served
	}
	due, err := outbox.DueMail(e.t.Context(), e.clock.Now().Add(time.Hour), 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*mail.Message
	for _, m := range due {
		if len(m.To) == 1 && m.To[0] == addr {
			msg, err := mail.ReadMessage(bytes.NewReader(m.Message))
			if err != nil {
				e.t.Fatal(err)
			}
			out = append(out, msg)
		}
	}
	return out
}

var codeRE = regexp.MustCompile(`\b(\d{6})\b`)

// lastCode reads the newest code mailed to addr, as the recipient would.
func (e *env) lastCode(addr string) string {
	e.t.Helper()
	mails := e.mailsTo(addr)
	if len(mails) == 0 {
		e.t.Fatalf("no mail to %s", addr)
	}
	body, _ := io.ReadAll(quotedprintable.NewReader(mails[len(mails)-1].Body))
	m := codeRE.FindSubmatch(body)
	if m == nil {
		e.t.Fatalf("no code in mail to %s:\n%s", addr, body)
	}
	return string(m[1])
}

// register runs the whole first registration for the recipient of s.
func (b *browser) register(s sealed, first, last string) {
	b.e.t.Helper()
	id := s.file.Header.ID.String()
	if code, out := b.call("POST", "/api/v1/register/start", map[string]string{"envelope_id": id, "first_name": first, "last_name": last}); code != http.StatusAccepted {
		b.e.t.Fatalf("register/start: %d %v", code, out)
	}
	code := b.e.lastCode(s.file.Header.To)
	if st, out := b.call("POST", "/api/v1/register/verify", map[string]string{"envelope_id": id, "code": code}); st != http.StatusOK || out["setup"] != true {
		b.e.t.Fatalf("register/verify: %d %v", st, out)
	}
	if st, out := b.call("POST", "/api/v1/account/password", map[string]string{"password": password}); st != http.StatusNoContent {
		b.e.t.Fatalf("set password: %d %v", st, out)
	}
}

// release asks for the server key of s and returns the status and answer.
func (b *browser) release(s sealed) (int, map[string]any) {
	return b.call("POST", "/api/v1/envelopes/"+s.file.Header.ID.String()+"/key", nil)
}

// open releases the key and opens the envelope with it, as the browser will.
func (b *browser) open(s sealed) []byte {
	b.e.t.Helper()
	st, out := b.release(s)
	if st != http.StatusOK {
		b.e.t.Fatalf("release %s: %d %v", s.file.Header.ID, st, out)
	}
	k, err := envelope.ParseKey(out["server_key"].(string))
	if err != nil {
		b.e.t.Fatal(err)
	}
	msg, err := s.file.Open(k)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return msg
}

func (e *env) admin() *client.Client { return client.New(e.srv.URL, adminToken, nil) }

func TestRegisterCodePasswordRelease(t *testing.T) {
	e := newEnv(t)
	s := e.seal("From: alice@hospital.example\r\n\r\nYour results are normal.\r\n", time.Time{}, "Bob@Patient.example")[0]
	b := e.browser()

	// Before signing in nothing is released.
	if st, out := b.release(s); st != http.StatusUnauthorized || out["error"] != "signin_required" {
		t.Fatalf("release before sign-in: %d %v", st, out)
	}
	id := s.file.Header.ID.String()
	st, out := b.call("POST", "/api/v1/register/start", map[string]string{"envelope_id": id, "first_name": "Bob", "last_name": "Patient"})
	if st != http.StatusAccepted || out["sent_to"] != "b*b@patient.example" {
		t.Fatalf("register/start: %d %v", st, out)
	}
	// The code went to the envelope's recipient, not to an address the person typed.
	code := e.lastCode("bob@patient.example")
	st, out = b.call("POST", "/api/v1/register/verify", map[string]string{"envelope_id": id, "code": code})
	if st != http.StatusOK || out["setup"] != true {
		t.Fatalf("register/verify: %d %v", st, out)
	}
	// A setup session can only choose a password.
	if st, out := b.release(s); st != http.StatusForbidden || out["error"] != "setup_required" {
		t.Fatalf("release during setup: %d %v", st, out)
	}
	if st, out := b.call("POST", "/api/v1/account/password", map[string]string{"password": "short"}); st != http.StatusBadRequest || out["error"] != "weak_password" {
		t.Fatalf("short password: %d %v", st, out)
	}
	// A common password is refused, and the answer says why (the page shows it).
	st, out = b.call("POST", "/api/v1/account/password", map[string]string{"password": "password123"})
	if msg, _ := out["message"].(string); st != http.StatusBadRequest || out["error"] != "weak_password" ||
		!strings.Contains(msg, "\u201cpassword\u201d is on lists of common and breached passwords") {
		t.Fatalf("common password: %d %v", st, out)
	}
	st, out = b.call("POST", "/api/v1/account/password", map[string]string{"password": "Bob.Patient.1"})
	if msg, _ := out["message"].(string); st != http.StatusBadRequest || !strings.Contains(msg, "your email address or name") {
		t.Fatalf("password of the person's name: %d %v", st, out)
	}
	if st, _ := b.call("POST", "/api/v1/account/password", map[string]string{"password": password}); st != http.StatusNoContent {
		t.Fatalf("set password: %d", st)
	}
	if got := b.open(s); !bytes.Equal(got, s.msg) {
		t.Fatalf("opened %q", got)
	}
	// The first release queued a read receipt to the sender; a second does not.
	b.open(s)
	receipts := e.mailsTo("alice@hospital.example")
	if len(receipts) != 1 || receipts[0].Header.Get("Subject") != "Read: Results" {
		t.Fatalf("want one read receipt, got %d", len(receipts))
	}
	body, _ := io.ReadAll(quotedprintable.NewReader(receipts[0].Body))
	for _, want := range []string{"bob@patient.example (Bob Patient)", "Results", "Opened:"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("receipt lacks %q:\n%s", want, body)
		}
	}

	// Sign out, then sign in with the password and open again.
	if st, _ := b.call("POST", "/api/v1/signout", nil); st != http.StatusNoContent {
		t.Fatalf("sign out: %d", st)
	}
	if st, _ := b.release(s); st != http.StatusUnauthorized {
		t.Fatalf("release after sign-out: %d", st)
	}
	if st, out := b.call("POST", "/api/v1/signin/password", map[string]string{"email": "BOB@patient.example", "password": password}); st != http.StatusOK {
		t.Fatalf("sign in: %d %v", st, out)
	}
	b.open(s)

	// Registering again answers as the first registration did (the answer must
	// not tell who is registered), and its code signs in to the account.
	b2 := e.browser()
	if st, out := b2.call("POST", "/api/v1/register/start", map[string]string{"envelope_id": id, "first_name": "Mallory", "last_name": "P"}); st != http.StatusAccepted || out["sent_to"] != "b*b@patient.example" {
		t.Fatalf("second registration: %d %v", st, out)
	}
	if st, out := b2.call("POST", "/api/v1/register/verify", map[string]string{"envelope_id": id, "code": e.lastCode("bob@patient.example")}); st != http.StatusOK || out["setup"] != false || out["method"] != "code" {
		t.Fatalf("second registration's code: %d %v", st, out)
	}
	if a := e.account("bob@patient.example"); a.FirstName != "Bob" || a.PasswordHash == "" {
		t.Errorf("a second registration changed the account: %+v", a)
	}
	e.clock.Add(10 * time.Minute)
	b2.open(s)
	v, err := e.admin().Envelope(t.Context(), id)
	if err != nil || v.Releases != 4 || v.State != "active" || v.FirstOpen.IsZero() {
		t.Fatalf("envelope after releases: %+v %v", v, err)
	}
	// Sent items show the first and the latest open beside the count.
	if !v.LastOpen.Equal(e.clock.Now()) || !v.FirstOpen.Before(v.LastOpen) {
		t.Errorf("first open %v, last open %v; want the last at %v", v.FirstOpen, v.LastOpen, e.clock.Now())
	}
}

func TestNotYoursAndRefusals(t *testing.T) {
	e := newEnv(t)
	envs := e.seal("secret", time.Time{}, "bob@patient.example", "carol@clinic.example")
	bob, carol := e.browser(), e.browser()
	bob.register(envs[0], "Bob", "Patient")
	carol.register(envs[1], "Carol", "Clinic")

	if st, out := carol.release(envs[0]); st != http.StatusForbidden || out["error"] != "not_yours" {
		t.Fatalf("carol releasing bob's: %d %v", st, out)
	}
	if st, out := bob.release(envs[1]); st != http.StatusForbidden || out["error"] != "not_yours" {
		t.Fatalf("bob releasing carol's: %d %v", st, out)
	}
	if st, out := bob.call("POST", "/api/v1/envelopes/"+envelope.NewID().String()+"/key", nil); st != http.StatusNotFound || out["error"] != "unknown" {
		t.Fatalf("unknown envelope: %d %v", st, out)
	}
	ctx := t.Context()
	id := envs[0].file.Header.ID.String()

	if _, err := e.admin().Manage(ctx, "lock", id, "Sent to the wrong patient"); err != nil {
		t.Fatal(err)
	}
	st, out := bob.release(envs[0])
	if st != http.StatusLocked || out["error"] != "locked" || !strings.Contains(out["message"].(string), "Sent to the wrong patient") {
		t.Fatalf("locked: %d %v", st, out)
	}
	// Carol still learns only "not yours" about an envelope that is not hers.
	if st, out := carol.release(envs[0]); out["error"] != "not_yours" {
		t.Fatalf("carol on locked: %d %v", st, out)
	}
	if _, err := e.admin().Manage(ctx, "unlock", id, ""); err != nil {
		t.Fatal(err)
	}
	bob.open(envs[0])

	if _, err := e.admin().Manage(ctx, "revoke", id, ""); err != nil {
		t.Fatal(err)
	}
	if st, out := bob.release(envs[0]); st != http.StatusGone || out["error"] != "revoked" {
		t.Fatalf("revoked: %d %v", st, out)
	}
	// Revocation is irreversible: unlock and a new expiry do not bring the key back.
	e.admin().Manage(ctx, "unlock", id, "")
	if _, err := e.admin().Manage(ctx, "expiry", id, ""); err == nil {
		t.Fatal("changing the expiry of a revoked envelope succeeded")
	}
	if st, _ := bob.release(envs[0]); st != http.StatusGone {
		t.Fatalf("revoked after unlock: %d", st)
	}

	// Expire through the admin API.
	if _, err := e.admin().Manage(ctx, "expire", envs[1].file.Header.ID.String(), ""); err != nil {
		t.Fatal(err)
	}
	if st, out := carol.release(envs[1]); st != http.StatusGone || out["error"] != "expired" {
		t.Fatalf("expired: %d %v", st, out)
	}
}

func TestExpiryAndSweeper(t *testing.T) {
	e := newEnv(t)
	s := e.seal("soon gone", e.clock.Now().Add(48*time.Hour), "bob@patient.example")[0]
	b := e.browser()
	b.register(s, "Bob", "Patient")
	b.open(s)

	e.clock.Add(49 * time.Hour)
	// Past expiry the key is refused at once, before any sweep...
	if st, out := b.call("POST", "/api/v1/signin/password", map[string]string{"email": "bob@patient.example", "password": password}); st != http.StatusOK {
		t.Fatalf("sign in: %d %v", st, out)
	}
	if st, out := b.release(s); st != http.StatusGone || out["error"] != "expired" {
		t.Fatalf("after expiry: %d %v", st, out)
	}
	// ...and the sweeper destroys it.
	n, err := e.svc.Sweep(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	rec, err := e.store.Envelope(t.Context(), s.file.Header.ID)
	if err != nil || len(rec.WrappedKey) != 0 || rec.Expired.IsZero() {
		t.Fatalf("after sweep: key %d bytes, expired %v, %v", len(rec.WrappedKey), rec.Expired, err)
	}
	if n, _ := e.svc.Sweep(t.Context()); n != 0 {
		t.Fatalf("second sweep expired %d again", n)
	}
}

func TestCodesAreSingleUseAndAttemptLimited(t *testing.T) {
	e := newEnv(t)
	envs := e.seal("m", time.Time{}, "bob@patient.example", "dave@patient.example")
	s := envs[0]
	id := s.file.Header.ID.String()
	b := e.browser()
	b.call("POST", "/api/v1/register/start", map[string]string{"envelope_id": id, "first_name": "Bob", "last_name": "Patient"})
	good := e.lastCode("bob@patient.example")
	wrong := fmt.Sprintf("%06d", (atoi(good)+1)%1_000_000)
	for i, left := range []string{"4 tries left", "3 tries left", "2 tries left", "1 try left"} {
		st, out := b.call("POST", "/api/v1/register/verify", map[string]string{"envelope_id": id, "code": wrong})
		if st != http.StatusBadRequest || out["error"] != "bad_code" || !strings.Contains(out["message"].(string), left) {
			t.Fatalf("wrong code %d: %d %v", i+1, st, out)
		}
	}
	if st, out := b.call("POST", "/api/v1/register/verify", map[string]string{"envelope_id": id, "code": wrong}); out["error"] != "code_expired" {
		t.Fatalf("fifth wrong code: %d %v", st, out)
	}
	// After five failures even the right code is dead.
	if st, out := b.call("POST", "/api/v1/register/verify", map[string]string{"envelope_id": id, "code": good}); out["error"] != "code_expired" {
		t.Fatalf("right code after 5 failures: %d %v", st, out)
	}

	// A new code works once, and only once.
	b.call("POST", "/api/v1/register/start", map[string]string{"envelope_id": id, "first_name": "Bob", "last_name": "Patient"})
	code := e.lastCode("bob@patient.example")
	if st, out := b.call("POST", "/api/v1/register/verify", map[string]string{"envelope_id": id, "code": code}); st != http.StatusOK {
		t.Fatalf("fresh code: %d %v", st, out)
	}
	if st, out := e.browser().call("POST", "/api/v1/register/verify", map[string]string{"envelope_id": id, "code": code}); out["error"] != "code_expired" {
		t.Fatalf("code used twice: %d %v", st, out)
	}

	// Codes die after ten minutes.
	id2 := envs[1].file.Header.ID.String()
	b2 := e.browser()
	b2.call("POST", "/api/v1/register/start", map[string]string{"envelope_id": id2, "first_name": "Dave", "last_name": "P"})
	late := e.lastCode("dave@patient.example")
	e.clock.Add(10*time.Minute + time.Second)
	if st, out := b2.call("POST", "/api/v1/register/verify", map[string]string{"envelope_id": id2, "code": late}); out["error"] != "code_expired" {
		t.Fatalf("code after 10 minutes: %d %v", st, out)
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestBruteForceHitsTheLimiter(t *testing.T) {
	e := newEnv(t, func(c *keyserver.Config) {
		c.SignInPerEmail = keyserver.RateLimit{Burst: 100, Every: time.Second} // let the lockout act first
	})
	s := e.seal("m", time.Time{}, "bob@patient.example")[0]
	b := e.browser()
	b.register(s, "Bob", "Patient")
	b.call("POST", "/api/v1/signout", nil)

	attacker := e.browser()
	var last map[string]any
	var status, bad int
	for range 5 {
		status, _ = attacker.call("POST", "/api/v1/signin/password", map[string]string{"email": "bob@patient.example", "password": "guess-guess-guess"})
		if status == http.StatusUnauthorized {
			bad++
		}
	}
	if bad != 5 {
		t.Fatalf("first five wrong passwords: %d answered bad_credentials", bad)
	}
	// The account is now locked with a backoff: even the right password waits.
	status, last = attacker.call("POST", "/api/v1/signin/password", map[string]string{"email": "bob@patient.example", "password": password})
	if status != http.StatusTooManyRequests || last["error"] != "account_locked" || last["retry_after"] == nil {
		t.Fatalf("after 5 failures: %d %v", status, last)
	}
	e.clock.Add(2 * time.Minute)
	if st, out := b.call("POST", "/api/v1/signin/password", map[string]string{"email": "bob@patient.example", "password": password}); st != http.StatusOK {
		t.Fatalf("after the backoff: %d %v", st, out)
	}

	// One client address guessing across many accounts hits the per-address limit.
	limited := false
	for i := range 40 {
		st, out := attacker.call("POST", "/api/v1/signin/password", map[string]string{"email": fmt.Sprintf("u%d@x.example", i), "password": "guess-guess-guess"})
		if st == http.StatusTooManyRequests && out["error"] == "rate_limited" {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("40 sign-in attempts from one address were never rate limited")
	}
}

func TestSignInByCodeAndPasswordReset(t *testing.T) {
	e := newEnv(t)
	s := e.seal("m", time.Time{}, "bob@patient.example")[0]
	b := e.browser()
	b.register(s, "Bob", "Patient")

	other := e.browser()
	// Unknown addresses get the same answer, and no mail.
	st1, out1 := other.call("POST", "/api/v1/signin/code", map[string]string{"email": "nobody@x.example"})
	st2, out2 := other.call("POST", "/api/v1/signin/code", map[string]string{"email": "bob@patient.example"})
	if st1 != st2 || out1["message"] != out2["message"] {
		t.Fatalf("answers differ for unknown and known address: %v / %v", out1, out2)
	}
	if len(e.mailsTo("nobody@x.example")) != 0 {
		t.Fatal("a code was mailed to an address without an account")
	}
	code := e.lastCode("bob@patient.example")
	if st, out := other.call("POST", "/api/v1/signin/code/verify", map[string]string{"email": "bob@patient.example", "code": code}); st != http.StatusOK || out["setup"] != false {
		t.Fatalf("sign in by code: %d %v", st, out)
	}
	other.open(s)

	// Forgot password: a reset code sets a new password and ends other sessions.
	reset := e.browser()
	reset.call("POST", "/api/v1/password/forgot", map[string]string{"email": "bob@patient.example"})
	rc := e.lastCode("bob@patient.example")
	if st, out := reset.call("POST", "/api/v1/password/reset", map[string]string{"email": "bob@patient.example", "code": rc, "password": "a brand new passphrase"}); st != http.StatusOK {
		t.Fatalf("reset: %d %v", st, out)
	}
	if st, _ := other.release(s); st != http.StatusUnauthorized {
		t.Fatalf("old session after reset: %d", st)
	}
	if st, _ := e.browser().call("POST", "/api/v1/signin/password", map[string]string{"email": "bob@patient.example", "password": password}); st != http.StatusUnauthorized {
		t.Fatalf("old password after reset: %d", st)
	}
	reset.open(s)
}

func TestSessionTimeoutsAndAccountExpiry(t *testing.T) {
	e := newEnv(t)
	s := e.seal("m", time.Time{}, "bob@patient.example")[0]
	b := e.browser()
	b.register(s, "Bob", "Patient")
	b.open(s)
	e.clock.Add(31 * time.Minute)
	if st, out := b.release(s); st != http.StatusUnauthorized || !strings.Contains(out["message"].(string), "session has ended") {
		t.Fatalf("after idle timeout: %d %v", st, out)
	}
	// Unused for more than a year, the account expires and must register again.
	e.clock.Add(366 * 24 * time.Hour)
	if st, out := b.call("POST", "/api/v1/signin/password", map[string]string{"email": "bob@patient.example", "password": password}); st != http.StatusUnauthorized || out["error"] != "account_expired" {
		t.Fatalf("after a year unused: %d %v", st, out)
	}
	b.register(s, "Bob", "Patient")
	b.open(s)

	// The sweeper also removes accounts idle past the limit, without a sign-in.
	e.clock.Add(366 * 24 * time.Hour)
	if _, err := e.svc.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.AccountByEmail(t.Context(), "bob@patient.example"); !errors.Is(err, keyserver.ErrNotFound) {
		t.Fatalf("idle account after sweep: %v", err)
	}
}

func TestCSRFDefence(t *testing.T) {
	e := newEnv(t)
	s := e.seal("m", time.Time{}, "bob@patient.example")[0]
	b := e.browser()
	b.register(s, "Bob", "Patient")

	evil := *b
	evil.origin = "https://evil.example"
	if st, out := evil.release(s); st != http.StatusForbidden || out["error"] != "forbidden" {
		t.Fatalf("foreign origin: %d %v", st, out)
	}
	// Without the custom header (a plain cross-site form post could not add it).
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/envelopes/"+s.file.Header.ID.String()+"/key", nil)
	req.AddCookie(&http.Cookie{Name: "waxseal", Value: b.cookie})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("without %s: %d", api.CSRFHeader, resp.StatusCode)
	}
	// The header's presence and the Origin check are the defence: no per-session
	// token is handed out that nothing would check (docs/THREAT_MODEL.md).
	st, out := b.call("GET", "/api/v1/session", nil)
	if _, ok := out["csrf"]; st != http.StatusOK || ok {
		t.Errorf("session answer: %d %v, want no csrf token", st, out)
	}
}

func TestGatewayAPI(t *testing.T) {
	e := newEnv(t)
	p, _ := envelope.EncryptPayload([]byte("m"))
	en, keys, _ := p.Seal(envelope.Header{KeyServer: e.public, From: "alice@hospital.example", To: "bob@patient.example"})
	reg := []client.Registration{{Envelope: en, ServerKey: keys.Server}}
	ctx := t.Context()
	err := client.New(e.srv.URL, "wrong-token", nil).RegisterEnvelopes(ctx, reg)
	if ae, ok := err.(*client.APIError); !ok || ae.Status != http.StatusUnauthorized {
		t.Fatalf("wrong gateway token: %v", err)
	}
	gw := client.New(e.srv.URL, gatewayToken, nil)
	if err := gw.RegisterEnvelopes(ctx, reg); err != nil {
		t.Fatal(err)
	}
	// A retry of the same registration is harmless; the same id with another key is not.
	if err := gw.RegisterEnvelopes(ctx, reg); err != nil {
		t.Fatalf("repeated registration: %v", err)
	}
	other := keys.Server
	other[0] ^= 1
	err = gw.RegisterEnvelopes(ctx, []client.Registration{{Envelope: en, ServerKey: other}})
	if ae, ok := err.(*client.APIError); !ok || ae.Status != http.StatusConflict {
		t.Fatalf("conflicting registration: %v", err)
	}
	// The admin token is not a gateway token, nor the reverse.
	if err := client.New(e.srv.URL, adminToken, nil).RegisterEnvelopes(ctx, reg); err == nil {
		t.Fatal("admin token registered envelopes")
	}
	if _, err := client.New(e.srv.URL, gatewayToken, nil).Envelopes(ctx, api.EnvelopeQuery{}); err == nil {
		t.Fatal("gateway token listed envelopes")
	}
}

// TestNoSecretsInLogsOrDatabase runs the whole flow and then searches the logs and
// the raw database file for every secret that passed through.
func TestNoSecretsInLogsOrDatabase(t *testing.T) {
	e := newEnv(t)
	s := e.seal("From: a@hospital.example\r\n\r\nTOP-SECRET-BODY\r\n", time.Time{}, "bob@patient.example")[0]
	b := e.browser()
	id := s.file.Header.ID.String()
	b.call("POST", "/api/v1/register/start", map[string]string{"envelope_id": id, "first_name": "Bob", "last_name": "Patient"})
	code := e.lastCode("bob@patient.example")
	b.call("POST", "/api/v1/register/verify", map[string]string{"envelope_id": id, "code": code})
	b.call("POST", "/api/v1/account/password", map[string]string{"password": password})
	b.open(s)
	session := b.cookie
	b.call("POST", "/api/v1/signin/password", map[string]string{"email": "bob@patient.example", "password": "wrong password here"})
	e.store.Close()

	db, err := os.ReadFile(e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]byte{
		"k_srv":             s.serverKey[:],
		"k_srv (base64)":    []byte(envelope.EncodeKey(s.serverKey)),
		"k_env":             s.file.EnvKey[:],
		"password":          []byte(password),
		"session token":     []byte(session),
		"gateway token":     []byte(gatewayToken),
		"admin token":       []byte(adminToken),
		"message body":      []byte("TOP-SECRET-BODY"),
		"wrong password":    []byte("wrong password here"),
		"code (in a field)": []byte(`"` + code + `"`),
	}
	logs := e.logs.Bytes()
	if len(logs) == 0 {
		t.Fatal("no logs captured")
	}
	for name, secret := range secrets {
		if bytes.Contains(logs, secret) {
			t.Errorf("logs contain the %s", name)
		}
		if name != "code (in a field)" && bytes.Contains(db, secret) {
			t.Errorf("database file contains the %s", name)
		}
	}
}

func TestMetricsAndHealth(t *testing.T) {
	e := newEnv(t)
	envs := e.seal("m", time.Time{}, "bob@patient.example", "carol@clinic.example")
	s := envs[0]
	b := e.browser()
	b.register(s, "Bob", "Patient")
	b.open(s)
	e.browser().call("POST", "/api/v1/signin/password", map[string]string{"email": "bob@patient.example", "password": "nope nope nope"})
	carol := e.browser()
	carol.register(envs[1], "Carol", "Clinic")
	carol.release(s)

	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if st, _ := get("/healthz", ""); st != 200 {
		t.Errorf("healthz: %d", st)
	}
	if st, _ := get("/readyz", ""); st != 200 {
		t.Errorf("readyz: %d", st)
	}
	if st, _ := get("/metrics", ""); st != http.StatusUnauthorized {
		t.Errorf("metrics without token: %d", st)
	}
	st, body := get("/metrics", adminToken)
	if st != 200 {
		t.Fatalf("metrics: %d", st)
	}
	for _, want := range []string{
		"waxseal_key_releases_total 1",
		"waxseal_envelopes_registered_total 2",
		"waxseal_signin_failures_total 1",
		`waxseal_key_denials_total{reason="not_yours"} 1`,
		"waxseal_outbox_depth 3", // two codes and the read receipt
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

// An envelope for an address with the Kelvin sign (U+212A) is refused, not
// registered for (and released to) the ASCII "kate@" account; ASCII case is
// still folded.
func TestRegisterAddressRule(t *testing.T) {
	e := newEnv(t)
	p, _ := envelope.EncryptPayload([]byte("m"))
	gw := client.New(e.srv.URL, gatewayToken, nil)
	for _, to := range []string{"\u212Aate@patient.example", "kate@patient.example.", "аlice@patient.example"} {
		en, keys, err := p.Seal(envelope.Header{KeyServer: e.public, From: "alice@hospital.example", To: to})
		if err != nil {
			t.Fatal(err)
		}
		err = gw.RegisterEnvelopes(t.Context(), []client.Registration{{Envelope: en, ServerKey: keys.Server}})
		if ae, ok := err.(*client.APIError); !ok || ae.Status != http.StatusBadRequest {
			t.Errorf("registration for %q: %v, want 400", to, err)
		}
	}
	s := e.seal("hello", time.Time{}, "Kate@Patient.Example")
	rec, err := e.store.Envelope(t.Context(), s[0].file.Header.ID)
	if err != nil || rec.Recipient != "kate@patient.example" {
		t.Fatalf("recipient recorded as %q (%v)", rec.Recipient, err)
	}
}
