package keyserver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Shared state: everything a key server node would otherwise keep in its
// memory and that must hold across nodes — rate limits and lockout counts, the
// cap on WebAuthn ceremonies, outbox leases, and who runs the sweeper and the
// mail drainer — lives in the store, behind the role interfaces below, so that
// key server nodes behind one load balancer on one database (sqlstore on
// PostgreSQL) act as one server: five wrong passwords split across two nodes
// are five, and a lease taken on one node is seen by the other. Each role has
// its contract in storetest (RunLimits, RunCeremonyCap, RunLeases, RunLeader).
//
// Every write here is one atomic statement or one short guarded transaction,
// shaped for a store without interactive transactions (Cloudflare D1):
//
//   - TakeToken and AddFailure are one upsert each (INSERT … ON CONFLICT DO
//     UPDATE … RETURNING), the new value computed by the database from the old;
//   - PutCeremonyCapped is one INSERT … SELECT … WHERE (SELECT count(*) …) < max;
//   - LeaseMail reads the due mails and then updates each one guarded by the
//     next_attempt it read (UPDATE … WHERE id = ? AND next_attempt = ?),
//     taking only the rows whose guard held; DeleteLeasedMail and
//     RetryLeasedMail are one statement guarded by the lease token and expiry.
//
// What remains per node, on purpose: the admission of securedoc.html posts
// (postGate) guards that node's memory, so it counts that node's posts; the
// posted hold (posted.go) is memory too, and is off by default on PostgreSQL
// (docs/DEPLOY.md); metrics count what that node did (Config.Node names it).

// LimitStore keeps the counters behind rate limits and password lockouts.
type LimitStore interface {
	// TakeToken takes a token from the bucket under key, which holds rate.Burst
	// tokens and gains one every rate.Every (a GCRA, RateLimit.Take). ok is
	// false when none is left, and wait is then how long until one is. The
	// check and the take are one atomic step: concurrent callers on any node
	// never take more tokens than the bucket has. Times are kept to the
	// millisecond at least.
	TakeToken(ctx context.Context, key string, rate RateLimit, now time.Time) (ok bool, wait time.Duration, err error)
	// TokenAvailable reports whether TakeToken would succeed now, taking nothing.
	TokenAvailable(ctx context.Context, key string, rate RateLimit, now time.Time) (bool, error)
	// AddFailure counts a failure under key at now and returns the count since
	// the last ResetFailures, in one atomic step.
	AddFailure(ctx context.Context, key string, now time.Time) (int, error)
	// Failures returns the count under key and the time of its last failure
	// (0 and the zero time if none).
	Failures(ctx context.Context, key string) (n int, last time.Time, err error)
	// ResetFailures forgets key's failures; no error if there are none.
	ResetFailures(ctx context.Context, key string) error
	// DeleteIdleLimits forgets the buckets that are full again at now (they
	// would allow a whole burst anyway) and the failure counts whose last
	// failure was before failuresBefore, and returns how many it removed.
	DeleteIdleLimits(ctx context.Context, now, failuresBefore time.Time) (int, error)
}

// CeremonyCapStore bounds the WebAuthn ceremonies in progress, from all nodes
// together (passkeys.go).
type CeremonyCapStore interface {
	// PutCeremonyCapped is PutCeremony unless max or more ceremonies are stored
	// that expire after now: then it stores nothing and returns ErrCapReached.
	// The count and the insert are one atomic step.
	PutCeremonyCapped(ctx context.Context, c Ceremony, max int, now time.Time) error
}

// OutboxLeaseStore leases outbox mail to drainers (outbox.go): the lease token
// and its end are kept on the mail, so that any node can check a report.
type OutboxLeaseStore interface {
	// LeaseMail leases up to limit mails due at now (NextAttempt not after
	// now, oldest first) under token until until: each one's NextAttempt
	// becomes until, so that no other lease takes it before then. It returns
	// the mails as they were before the lease. Two concurrent calls never
	// lease the same mail.
	LeaseMail(ctx context.Context, now, until time.Time, token string, limit int) ([]OutboxMail, error)
	// DeleteLeasedMail deletes mail id if it is leased under token and the lease
	// has not ended at now; ErrNotFound otherwise (gone, never leased, leased
	// again under another token, or expired).
	DeleteLeasedMail(ctx context.Context, id uint64, token string, now time.Time) error
	// RetryLeasedMail records a failed attempt at leased mail id, as
	// DeleteLeasedMail checks the lease: Attempts becomes the larger of attempts
	// and the stored count, NextAttempt next, LastError lastError, and the lease
	// ends.
	RetryLeasedMail(ctx context.Context, id uint64, token string, now time.Time, attempts int, next time.Time, lastError string) error
}

// LeaderStore elects the one process that runs the sweeper and the outbox
// drainer among those on one database (RunAsLeader).
type LeaderStore interface {
	// TryLead takes the lead if nobody holds it: ok is false while another
	// holder (this process or another one on the database) has it. On
	// PostgreSQL it is a session advisory lock, held while the connection
	// lives; on bbolt and SQLite, whose database one process serves, it is held
	// in the store.
	TryLead(ctx context.Context) (l Leadership, ok bool, err error)
}

// Leadership is a lead taken with TryLead.
type Leadership interface {
	// Check returns an error once the lead is lost (the connection holding
	// the lock broke): the holder must stop leading.
	Check(ctx context.Context) error
	// Release gives the lead up.
	Release()
}

// ProcessLead is the one lead of a process. A store whose database one
// process serves (bbolt, SQLite) hands it out as its whole lead; a store
// shared by processes takes it before its database-wide lock, so that a
// process holds that lock at most once. The zero value is free.
type ProcessLead struct {
	mu   sync.Mutex
	held bool
}

// TryLead takes the process lead if it is free. The Leadership is lost only
// by Release, so its Check reports only ctx's end.
func (p *ProcessLead) TryLead(ctx context.Context) (Leadership, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held {
		return nil, false, nil
	}
	p.held = true
	return &processLeadership{lead: p}, true, nil
}

type processLeadership struct {
	lead *ProcessLead
	once sync.Once
}

func (l *processLeadership) Check(ctx context.Context) error { return ctx.Err() }

func (l *processLeadership) Release() {
	l.once.Do(func() {
		l.lead.mu.Lock()
		l.lead.held = false
		l.lead.mu.Unlock()
	})
}

// ErrCapReached refuses a ceremony when as many are in progress as allowed.
var ErrCapReached = errors.New("limit of records in progress reached")

// Take is the rate's step for one bucket (the generic cell rate algorithm,
// which keeps one time per bucket instead of a count and a time): tat is the
// bucket's "theoretical arrival time", the zero time for a new bucket. A token
// is available when tat is at most (Burst-1)×Every after now; taking it moves
// tat Every past the later of tat and now. It returns tat as it should be
// stored (unchanged when refused), whether a token was taken, and, when not,
// the wait until one is available.
func (r RateLimit) Take(tat, now time.Time) (time.Time, bool, time.Duration) {
	if r.Burst <= 0 || r.Every <= 0 {
		return tat, true, 0
	}
	start := tat
	if start.Before(now) {
		start = now
	}
	slack := time.Duration(r.Burst-1) * r.Every
	if ahead := start.Sub(now); ahead > slack {
		return tat, false, ahead - slack
	}
	return start.Add(r.Every), true, 0
}

// Available is Take without the taking.
func (r RateLimit) Available(tat, now time.Time) bool {
	_, ok, _ := r.Take(tat, now)
	return ok
}

// failureMemory is how long a failure count is kept after its last failure:
// a day, or the longest lockout if that is longer.
func (s *Service) failureMemory() time.Duration { return max(24*time.Hour, s.cfg.LockoutMax) }

// sweepLimits forgets full buckets and old failure counts (Sweep).
func (s *Service) sweepLimits(ctx context.Context, now time.Time) error {
	if _, err := s.store.DeleteIdleLimits(ctx, now, now.Add(-s.failureMemory())); err != nil {
		return fmt.Errorf("sweep limits: %w", err)
	}
	return nil
}

// RunAsLeader runs lead (the sweeper and the outbox drainer) while this process
// holds the lead among the processes on its database, until ctx ends: it tries
// to take the lead every interval, and once it has it, checks every interval
// that it still does, stopping lead (cancelling its context and waiting for it)
// when it does not. So at most one node sweeps and drains at a time, and
// another takes over within about interval when the leader stops or dies.
func (s *Service) RunAsLeader(ctx context.Context, interval time.Duration, lead func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		l, ok, err := s.store.TryLead(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "take the lead", "err", err)
		}
		if ok {
			s.lead(ctx, l, t, lead)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lead runs fn while l holds.
func (s *Service) lead(ctx context.Context, l Leadership, t *time.Ticker, fn func(context.Context)) {
	defer l.Release()
	// The gauge first: whoever reads the log line finds the metric agreeing.
	s.metrics.leader.Store(1)
	s.log.InfoContext(ctx, "leading: this node sweeps and drains the outbox", "node", s.cfg.Node)
	defer s.metrics.leader.Store(0)
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(lctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-t.C:
		}
		if err := l.Check(ctx); err != nil {
			if ctx.Err() == nil {
				s.log.WarnContext(ctx, "lost the lead", "err", err)
			}
			return
		}
	}
}

// ThreadHashLister lists the stored thread hashes (ThreadStore), for `waxseal
// store copy`; not part of Store, which never needs to list them.
type ThreadHashLister interface {
	// ThreadHashes calls fn for each stored hash with its expiry, until fn
	// returns an error.
	ThreadHashes(ctx context.Context, fn func(hash []byte, expires time.Time) error) error
}
