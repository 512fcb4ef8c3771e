package keyserver_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// refusal is what a person sees of an error: status, code, sentence, wait.
func refusal(t *testing.T, err error) string {
	t.Helper()
	var e *keyserver.Error
	if !errors.As(err, &e) {
		t.Fatalf("not a refusal: %v", err)
	}
	return fmt.Sprintf("%d %s %q retry=%s", e.Status, e.Code, e.Message, e.RetryAfter)
}

// TestSignInAnswersDoNotTellWhoIsRegistered: wrong passwords for an account
// with a password, a passkey-only account and an unknown address get the same
// answers, lockout included; wrong codes too.
func TestSignInAnswersDoNotTellWhoIsRegistered(t *testing.T) {
	e := newEnv(t, func(c *keyserver.Config) { c.SignInPerEmail = keyserver.RateLimit{Burst: 100, Every: time.Second} })
	seals := e.seal("m", time.Time{}, "bob@patient.example", "pat@patient.example")
	e.browser().register(seals[0], "Bob", "P")
	e.browser().registerWithPasskey(seals[1], e.auth())
	ctx := t.Context()
	addrs := []string{"bob@patient.example", "pat@patient.example", "nobody@patient.example"}
	for i := range 8 {
		var answers []string
		for j, addr := range addrs {
			_, err := e.svc.SignInPassword(ctx, keyserver.Caller{IP: fmt.Sprintf("198.51.%d.1", 100+j)}, addr, "guess-guess-guess")
			answers = append(answers, refusal(t, err))
		}
		if answers[0] != answers[1] || answers[0] != answers[2] {
			t.Errorf("guess %d: answers differ:\n%s\n%s\n%s", i+1, answers[0], answers[1], answers[2])
		}
		if i == 5 && answers[0][:3] != "429" {
			t.Errorf("guess 6: %s, want the lockout", answers[0])
		}
	}
	// "Mail me a code", "forgot password" and a wrong code: the same for all.
	for _, start := range []func(context.Context, keyserver.Caller, string) error{e.svc.StartSignInCode, e.svc.StartPasswordReset} {
		for _, addr := range addrs {
			if err := start(ctx, keyserver.Caller{IP: "192.0.2.1"}, addr); err != nil {
				t.Errorf("%s: %v", addr, err)
			}
		}
	}
	var codeAnswers []string
	for _, addr := range addrs {
		_, err := e.svc.VerifySignInCode(ctx, keyserver.Caller{IP: "192.0.2.2"}, addr, "000000")
		codeAnswers = append(codeAnswers, refusal(t, err))
	}
	if codeAnswers[0] != codeAnswers[1] || codeAnswers[0] != codeAnswers[2] {
		t.Errorf("wrong codes: answers differ:\n%s\n%s\n%s", codeAnswers[0], codeAnswers[1], codeAnswers[2])
	}
	// Registering an address that has an account answers as for a new one
	// (TestRegisterCodePasswordRelease follows the code); so does a staff address.
	staff := e.browser()
	staff.call("POST", "/api/v1/register/start", map[string]string{"email": "carol@hospital.example", "first_name": "Carol", "last_name": "S"})
	staff.call("POST", "/api/v1/register/verify", map[string]string{"email": "carol@hospital.example", "code": e.lastCode("carol@hospital.example")})
	for _, addr := range []string{"carol@hospital.example", "dave@hospital.example"} {
		st, out := e.browser().call("POST", "/api/v1/register/start", map[string]string{"email": addr, "first_name": "X", "last_name": "Y"})
		if st != http.StatusAccepted || out["sent_to"] == nil {
			t.Errorf("register/start for %s: %d %v", addr, st, out)
		}
	}
}

// gatedStore blocks every store call about one address until gate is closed.
type gatedStore struct {
	keyserver.Store
	addr string
	gate chan struct{}
}

func (g *gatedStore) AccountByEmail(ctx context.Context, email string) (keyserver.Account, error) {
	if email == g.addr {
		<-g.gate
	}
	return g.Store.AccountByEmail(ctx, email)
}

func (g *gatedStore) PutCode(ctx context.Context, c keyserver.Code) error {
	if c.Email == g.addr {
		<-g.gate
	}
	return g.Store.PutCode(ctx, c)
}

// TestCodeMailIsWrittenAfterTheAnswer: "mail me a code" and "forgot password"
// answer before anything about the address is read or written, so they take as
// long for an address with an account as for one without. (Before, the answer
// waited for a read, and for two synced writes when there was an account: the
// call below would block on the gate.)
func TestCodeMailIsWrittenAfterTheAnswer(t *testing.T) {
	gs := &gatedStore{addr: "bob@patient.example", gate: make(chan struct{})}
	e := newEnvOver(t, func(s keyserver.Store) keyserver.Store { gs.Store = s; return gs })
	close(gs.gate) // bob registers normally
	e.browser().register(e.seal("m", time.Time{}, "bob@patient.example")[0], "Bob", "P")
	before := len(e.mailsTo("bob@patient.example"))
	gs.gate = make(chan struct{})
	for _, start := range []func(context.Context, keyserver.Caller, string) error{e.svc.StartSignInCode, e.svc.StartPasswordReset} {
		if err := start(t.Context(), keyserver.Caller{IP: "192.0.2.1"}, "bob@patient.example"); err != nil {
			t.Fatal(err)
		}
	}
	close(gs.gate)
	var subjects []string
	for _, m := range e.mailsTo("bob@patient.example")[before:] {
		subjects = append(subjects, strings.SplitN(m.Header.Get("Subject"), ":", 2)[0])
	}
	slices.Sort(subjects)
	if want := []string{"Your password reset code", "Your sign-in code"}; !slices.Equal(subjects, want) {
		t.Fatalf("mailed after the answers: %q, want %q", subjects, want)
	}
}

// TestLockingSomeoneOutCostsAddresses: wrong passwords from one network lock
// that network out of the account, not its owner; only failures from several
// networks lock the account for everyone, and then the owner still gets in with
// an emailed code.
func TestLockingSomeoneOutCostsAddresses(t *testing.T) {
	e := newEnv(t, func(c *keyserver.Config) { c.SignInPerEmail = keyserver.RateLimit{Burst: 100, Every: time.Second} })
	owner := e.browser()
	owner.register(e.seal("m", time.Time{}, "bob@patient.example")[0], "Bob", "P")
	auth := e.auth()
	k := owner.addPasskey(auth, "Laptop")
	ctx := t.Context()
	const bobIP = "203.0.113.7"
	for net := range 5 {
		for i := range 5 {
			ip := fmt.Sprintf("198.51.%d.%d", 100+net, 1+i) // five addresses of one /24
			if _, err := e.svc.SignInPassword(ctx, keyserver.Caller{IP: ip}, "bob@patient.example", "guess-guess-guess"); !errors.Is(err, keyserver.ErrBadCredentials) {
				t.Fatalf("network %d, guess %d: %v", net, i+1, err)
			}
		}
		_, err := e.svc.SignInPassword(ctx, keyserver.Caller{IP: fmt.Sprintf("198.51.%d.9", 100+net)}, "bob@patient.example", password)
		if !errors.Is(err, keyserver.ErrAccountLocked) {
			t.Fatalf("network %d after five guesses, right password: %v, want account_locked", net, err)
		}
		if net != 0 && net != 4 {
			continue
		}
		_, err = e.svc.SignInPassword(ctx, keyserver.Caller{IP: bobIP}, "bob@patient.example", password)
		if net == 0 && err != nil {
			// (It also starts the count again: the next four networks.)
			t.Fatalf("bob's own sign-in after one network guessed: %v", err)
		}
		if net == 4 && !errors.Is(err, keyserver.ErrAccountLocked) {
			// Twenty failures from four networks: locked for everyone.
			t.Fatalf("after four networks guessed: %v, want account_locked", err)
		}
	}
	// A passkey and an emailed code still work while the password is locked.
	if st, out := e.browser().signInPasskey(auth, k); st != http.StatusOK {
		t.Fatalf("passkey sign-in while locked: %d %v", st, out)
	}
	for i := range 20 { // the passkey sign-in started the count again
		e.svc.SignInPassword(ctx, keyserver.Caller{IP: fmt.Sprintf("198.51.%d.1", 110+i/5)}, "bob@patient.example", "guess-guess-guess")
	}
	if _, err := e.svc.SignInPassword(ctx, keyserver.Caller{IP: bobIP}, "bob@patient.example", password); !errors.Is(err, keyserver.ErrAccountLocked) {
		t.Fatalf("locked again: %v", err)
	}
	if err := e.svc.StartSignInCode(ctx, keyserver.Caller{IP: bobIP}, "bob@patient.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.VerifySignInCode(ctx, keyserver.Caller{IP: bobIP}, "bob@patient.example", e.lastCode("bob@patient.example")); err != nil {
		t.Fatalf("code sign-in while locked: %v", err)
	}
}

// TestDailyCodeAllowances: per address, at most CodesPerDay codes are mailed
// and CodeGuessesPerDay wrong codes tried, over all its codes.
func TestDailyCodeAllowances(t *testing.T) {
	e := newEnv(t, func(c *keyserver.Config) {
		c.CodesPerEmail = keyserver.RateLimit{Burst: 1000, Every: time.Second}
		c.SignInPerIP = keyserver.RateLimit{Burst: 1000, Every: time.Second}
	})
	e.browser().register(e.seal("m", time.Time{}, "bob@patient.example")[0], "Bob", "P")
	ctx := t.Context()
	for i := range 19 { // and one for registering
		if err := e.svc.StartSignInCode(ctx, keyserver.Caller{IP: "192.0.2.1"}, "bob@patient.example"); err != nil {
			t.Fatalf("code %d: %v", i+1, err)
		}
	}
	if err := e.svc.StartSignInCode(ctx, keyserver.Caller{IP: "192.0.2.1"}, "bob@patient.example"); !errors.Is(err, keyserver.ErrRateLimited) {
		t.Fatalf("21st code in a day: %v, want rate_limited", err)
	}
	e.clock.Add(72 * time.Minute)
	if err := e.svc.StartSignInCode(ctx, keyserver.Caller{IP: "192.0.2.1"}, "bob@patient.example"); err != nil {
		t.Fatalf("a code 72 minutes later: %v", err)
	}

	// Ten wrong codes, at codes and at an address without one alike.
	e = newEnv(t, func(c *keyserver.Config) {
		c.CodesPerDay = keyserver.RateLimit{Burst: 1000, Every: time.Second}
		c.SignInPerIP = keyserver.RateLimit{Burst: 1000, Every: time.Second}
	})
	e.browser().register(e.seal("m", time.Time{}, "bob@patient.example")[0], "Bob", "P")
	for _, addr := range []string{"bob@patient.example", "nobody@patient.example"} {
		for i := range 10 {
			if _, err := e.svc.VerifySignInCode(ctx, keyserver.Caller{IP: "192.0.2.1"}, addr, "000000"); !errors.Is(err, keyserver.ErrBadCode) {
				t.Fatalf("%s, wrong code %d: %v", addr, i+1, err)
			}
		}
		_, err := e.svc.VerifySignInCode(ctx, keyserver.Caller{IP: "192.0.2.1"}, addr, "000000")
		if !errors.Is(err, keyserver.ErrRateLimited) {
			t.Fatalf("%s, 11th wrong code in a day: %v, want rate_limited", addr, err)
		}
	}
	// Even the right code waits now.
	if err := e.svc.StartSignInCode(ctx, keyserver.Caller{IP: "192.0.2.1"}, "bob@patient.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.VerifySignInCode(ctx, keyserver.Caller{IP: "192.0.2.1"}, "bob@patient.example", e.lastCode("bob@patient.example")); !errors.Is(err, keyserver.ErrRateLimited) {
		t.Fatalf("right code after the day's wrong ones: %v, want rate_limited", err)
	}
	e.clock.Add(144 * time.Minute)
	if err := e.svc.StartSignInCode(ctx, keyserver.Caller{IP: "192.0.2.1"}, "bob@patient.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.VerifySignInCode(ctx, keyserver.Caller{IP: "192.0.2.1"}, "bob@patient.example", e.lastCode("bob@patient.example")); err != nil {
		t.Fatalf("right code 144 minutes later: %v", err)
	}
}
