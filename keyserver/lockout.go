package keyserver

import (
	"sync"
	"time"
)

// Password lockout works in two steps, so that locking someone else out costs
// the attacker addresses:
//
//   - failures are counted per address and client prefix (IPv4 /24, IPv6 /64):
//     after LockoutAfter of them, that prefix waits for this address (a doubling
//     backoff up to LockoutMax) while everyone else can still try;
//   - only failures from several prefixes (accountLockFactor times LockoutAfter
//     in all) lock the address for everyone. For accounts with a password that
//     count is stored with the account (it survives restarts); for addresses
//     without a password, known or not, it is kept here, with the same numbers,
//     so that the answers do not tell the two apart.
//
// A locked-out person can still sign in with an emailed code or a passkey: the
// lock guards passwords only.
const accountLockFactor = 4

// failureLocks counts failures per key in memory and locks a key with the
// lockout's doubling backoff.
type failureLocks struct {
	after int
	max   time.Duration

	mu    sync.Mutex
	m     map[string]*failState
	sweep time.Time
}

type failState struct {
	n     int
	until time.Time
	last  time.Time
}

func newFailureLocks(after int, max time.Duration) *failureLocks {
	return &failureLocks{after: after, max: max, m: map[string]*failState{}}
}

// lockoutUntil is the lockout's backoff after n failures at now, or the zero time.
func lockoutUntil(n, after int, max time.Duration, now time.Time) time.Time {
	over := n - after
	if over < 0 {
		return time.Time{}
	}
	return now.Add(min(time.Minute<<min(over, 20), max))
}

// locked says how long key is still locked.
func (f *failureLocks) locked(key string, now time.Time) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.m[key]
	if st == nil || !now.Before(st.until) {
		return 0, false
	}
	return st.until.Sub(now), true
}

// fail counts a failure for key.
func (f *failureLocks) fail(key string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgetIdle(now)
	st := f.m[key]
	if st == nil {
		st = &failState{}
		f.m[key] = st
	}
	st.n++
	st.last = now
	st.until = lockoutUntil(st.n, f.after, f.max, now)
}

// reset forgets key's failures (a successful sign-in).
func (f *failureLocks) reset(key string) {
	f.mu.Lock()
	delete(f.m, key)
	f.mu.Unlock()
}

// forgetIdle drops, now and then, keys without a failure for a day and no lock,
// so that the map does not grow without bound.
func (f *failureLocks) forgetIdle(now time.Time) {
	if now.Sub(f.sweep) < time.Minute {
		return
	}
	f.sweep = now
	for k, st := range f.m {
		if now.Sub(st.last) > 24*time.Hour && !now.Before(st.until) {
			delete(f.m, k)
		}
	}
}

// lockedOut is the answer for any locked address, whatever locked it.
func lockedOut(wait time.Duration) error {
	wait = wait.Round(time.Second)
	e := ErrAccountLocked.With("Too many failed sign-ins for this address. Try again in %s, or sign in with an emailed code or a passkey.", wait)
	e.RetryAfter = wait
	return e
}
