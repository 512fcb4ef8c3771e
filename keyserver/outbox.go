package keyserver

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/waxseal/waxseal/keyserver/api"
)

// Outbox leases let a gateway send the key server's mail (codes, receipts) for
// a key server that cannot send mail itself, such as one on Cloudflare Workers.
// A drainer leases a batch, sends it, and reports each mail done or to retry. A
// lease moves the mail's next attempt to the lease's end, so no other drainer
// (nor a lease after a restart) gets it until the lease runs out; a report with a
// lease that ran out and was taken by another drainer is refused (409
// lease_lost), so two drainers never both act on one mail. Delivery stays at
// least once: a drainer that dies after sending but before reporting leaves the
// mail to be sent again when its lease ends.
//
// Leases are kept in this process: one key server process per store (bbolt).

// Outbox lease limits.
const (
	maxLeaseBatch    = 100
	defaultLease     = 2 * time.Minute
	minLease         = 10 * time.Second
	maxLease         = time.Hour
	maxOutboxError   = 1000
	defaultLeaseSize = 20
)

// ErrLeaseLost refuses a report for a mail whose lease ended and was taken over.
var ErrLeaseLost = &Error{http.StatusConflict, api.CodeLeaseLost, "The lease on this mail ended before it was reported; another drainer has it.", 0}

// LeasedMail is an outbox mail leased to a drainer, with the lease to report with.
type LeasedMail struct {
	OutboxMail
	Lease string
}

type lease struct {
	token   string
	expires time.Time
	mail    OutboxMail
}

type outboxLeases struct {
	mu   sync.Mutex
	held map[uint64]lease
}

// LeaseMail leases up to limit due mails (0: 20; at most 100) for d (0: two
// minutes; bounded to between ten seconds and an hour), and returns them with
// the lease's length.
func (s *Service) LeaseMail(ctx context.Context, caller Caller, limit int, d time.Duration) ([]LeasedMail, time.Duration, error) {
	if limit <= 0 {
		limit = defaultLeaseSize
	}
	limit = min(limit, maxLeaseBatch)
	if d > 0 {
		d = min(max(d, minLease), maxLease)
	} else {
		d = defaultLease
	}
	o := &s.leases
	o.mu.Lock()
	defer o.mu.Unlock()
	now := s.now()
	due, err := s.store.DueMail(ctx, now, limit)
	if err != nil {
		return nil, 0, err
	}
	out := []LeasedMail{}
	for _, m := range due {
		until := now.Add(d)
		leased := m
		leased.NextAttempt = until
		if err := s.store.UpdateMail(ctx, leased); err != nil {
			if errors.Is(err, ErrNotFound) {
				continue
			}
			return nil, 0, err
		}
		tok := strconv.FormatUint(m.ID, 10) + "." + NewAPIToken()
		o.held[m.ID] = lease{token: tok, expires: until, mail: leased}
		out = append(out, LeasedMail{OutboxMail: m, Lease: tok})
	}
	for id, l := range o.held {
		if now.After(l.expires) {
			delete(o.held, id)
		}
	}
	return out, d, nil
}

// leased returns the lease on id if tok is its current, unexpired token. The
// caller holds o.mu.
func (s *Service) leased(id uint64, tok string) (lease, error) {
	l, ok := s.leases.held[id]
	if !ok || tok == "" || subtle.ConstantTimeCompare([]byte(l.token), []byte(tok)) != 1 || s.now().After(l.expires) {
		return lease{}, ErrLeaseLost
	}
	return l, nil
}

// MailDone reports leased mail id sent (or given up): it is deleted.
func (s *Service) MailDone(ctx context.Context, caller Caller, id uint64, tok string) error {
	o := &s.leases
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, err := s.leased(id, tok); err != nil {
		return err
	}
	if err := s.store.DeleteMail(ctx, id); err != nil {
		return err
	}
	delete(o.held, id)
	return nil
}

// MailRetry reports a failed attempt at leased mail id: it is due again at next.
func (s *Service) MailRetry(ctx context.Context, caller Caller, id uint64, tok string, attempts int, next time.Time, lastError string) error {
	o := &s.leases
	o.mu.Lock()
	defer o.mu.Unlock()
	l, err := s.leased(id, tok)
	if err != nil {
		return err
	}
	m := l.mail
	m.Attempts = max(attempts, m.Attempts)
	m.NextAttempt = next
	if len(lastError) > maxOutboxError {
		lastError = lastError[:maxOutboxError]
	}
	m.LastError = lastError
	if err := s.store.UpdateMail(ctx, m); err != nil {
		return err
	}
	delete(o.held, id)
	return nil
}

// OutboxDepth counts the mails waiting.
func (s *Service) OutboxDepth(ctx context.Context) (int, error) { return s.store.OutboxDepth(ctx) }
