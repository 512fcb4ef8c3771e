package keyserver

import (
	"context"
	"fmt"
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
//     without a password, known or not, it is kept in the store's failure
//     counts (LimitStore), with the same numbers, so that the answers do not
//     tell the two apart.
//
// A locked-out person can still sign in with an emailed code or a passkey: the
// lock guards passwords only.
const accountLockFactor = 4

// failureLocks counts failures per key in the store (LimitStore), across
// nodes, and locks a key with the lockout's doubling backoff from its last
// failure.
type failureLocks struct {
	name  string
	after int
	max   time.Duration
	store LimitStore
}

func newFailureLocks(name string, after int, max time.Duration, store LimitStore) *failureLocks {
	return &failureLocks{name: name, after: after, max: max, store: store}
}

// lockoutUntil is the lockout's backoff after n failures at now, or the zero time.
func lockoutUntil(n, after int, max time.Duration, now time.Time) time.Time {
	over := n - after
	if over < 0 {
		return time.Time{}
	}
	return now.Add(min(time.Minute<<min(over, 20), max))
}

func (f *failureLocks) key(k string) string { return f.name + "\x1f" + k }

// attempt counts an attempt at key as a failure before it is judged (reset
// forgets it when it succeeds), and says whether key was locked: counting only
// after the slow password check would let attempts sent all at once pass the
// check together, each seeing the count before any of them was added. The
// count seen and the count added tell the racers apart: an attempt is judged
// if the failures before it are under the limit, or if it is the first one
// after a lock it saw expire; any other was overtaken by a racer and is
// refused as locked. (A refused racer stays counted, lengthening its own
// network's backoff: only racing attempts pay that.)
func (f *failureLocks) attempt(ctx context.Context, key string, now time.Time) (time.Duration, bool, error) {
	seen, last, err := f.store.Failures(ctx, f.key(key))
	if err != nil {
		return 0, false, fmt.Errorf("lockout %s: %w", f.name, err)
	}
	if until := lockoutUntil(seen, f.after, f.max, last); seen > 0 && now.Before(until) {
		return until.Sub(now), true, nil
	}
	n, err := f.store.AddFailure(ctx, f.key(key), now)
	if err != nil {
		return 0, false, fmt.Errorf("lockout %s: %w", f.name, err)
	}
	if n > f.after && n != seen+1 {
		return lockoutUntil(n, f.after, f.max, now).Sub(now), true, nil
	}
	return 0, false, nil
}

// reset forgets key's failures (a successful sign-in).
func (f *failureLocks) reset(ctx context.Context, key string) error {
	if err := f.store.ResetFailures(ctx, f.key(key)); err != nil {
		return fmt.Errorf("lockout %s: %w", f.name, err)
	}
	return nil
}

// lockedOut is the answer for any locked address, whatever locked it.
func lockedOut(wait time.Duration) error {
	wait = wait.Round(time.Second)
	e := ErrAccountLocked.With("refusal.lockout_wait", "Wait", wait)
	e.RetryAfter = wait
	return e
}
