package keyserver_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// TestLockoutHoldsUnderRacingAttempts: wrong passwords sent all at once for
// one address are counted before they are judged, so the lockout's limits
// hold however many arrive together: LockoutAfter from one network, and
// accountLockFactor × LockoutAfter (20) from many networks, for an account
// and for an address without one alike.
func TestLockoutHoldsUnderRacingAttempts(t *testing.T) {
	e := newEnv(t, func(c *keyserver.Config) {
		c.SignInPerEmail = keyserver.RateLimit{Burst: 1000, Every: time.Second}
		c.SignInPerIP = keyserver.RateLimit{Burst: 1000, Every: time.Second}
		// A slower hash widens the window between the check and the count.
		c.Argon2 = keyserver.Argon2Params{MemoryKiB: 4096, Time: 1, Threads: 1}
	})
	e.browser().register(e.seal("m", time.Time{}, "bob@patient.example")[0], "Bob", "P")

	// race fires n wrong passwords at addr at once, the i-th from ip(i), and
	// returns how many were judged (a wrong-password answer) rather than
	// refused as locked.
	race := func(addr string, n int, ip func(int) string) (judged int) {
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			start = make(chan struct{})
		)
		for i := range n {
			wg.Go(func() {
				<-start
				_, err := e.svc.SignInPassword(t.Context(), keyserver.Caller{IP: ip(i)}, addr, "guess-guess-guess")
				mu.Lock()
				defer mu.Unlock()
				switch {
				case errors.Is(err, keyserver.ErrBadCredentials):
					judged++
				case errors.Is(err, keyserver.ErrAccountLocked):
				default:
					t.Errorf("%s, attempt %d: %v", addr, i, err)
				}
			})
		}
		close(start)
		wg.Wait()
		return judged
	}
	for _, addr := range []string{"bob@patient.example", "nobody@patient.example"} {
		if judged := race(addr, 30, func(int) string { return "198.51.100.7" }); judged != 5 {
			t.Errorf("%s: 30 racing guesses from one network, %d judged, want 5", addr, judged)
		}
	}
	// From many networks: the account-wide count (the five above included).
	for _, addr := range []string{"bob@patient.example", "nobody@patient.example"} {
		if judged := race(addr, 40, func(i int) string { return fmt.Sprintf("203.0.%d.1", i) }); judged != 15 {
			t.Errorf("%s: 40 racing guesses from 40 networks after 5, %d judged, want 15", addr, judged)
		}
	}
}
