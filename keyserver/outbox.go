package keyserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
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
// Leases are kept on the mails in the store (OutboxLeaseStore): a drainer may
// report to any key server node on the database.

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
var ErrLeaseLost = (&Error{http.StatusConflict, api.CodeLeaseLost, "The lease on this mail ended before it was reported; another drainer has it.", 0, nil}).With("refusal.lease_lost")

// LeasedMail is an outbox mail leased to a drainer, with the lease to report with.
type LeasedMail struct {
	OutboxMail
	Lease string
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
	now := s.now()
	batch := NewAPIToken()
	due, err := s.store.LeaseMail(ctx, now, now.Add(d), batch, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("lease mail: %w", err)
	}
	out := make([]LeasedMail, 0, len(due))
	for _, m := range due {
		out = append(out, LeasedMail{OutboxMail: m, Lease: strconv.FormatUint(m.ID, 10) + "." + batch})
	}
	return out, d, nil
}

// leaseToken returns the store's token of a lease on mail id: the lease is
// "ID.TOKEN", TOKEN shared by the mails leased together.
func leaseToken(id uint64, lease string) (string, error) {
	num, tok, ok := strings.Cut(lease, ".")
	if !ok || tok == "" || num != strconv.FormatUint(id, 10) {
		return "", ErrLeaseLost
	}
	return tok, nil
}

// MailDone reports leased mail id sent (or given up): it is deleted.
func (s *Service) MailDone(ctx context.Context, caller Caller, id uint64, lease string) error {
	tok, err := leaseToken(id, lease)
	if err != nil {
		return err
	}
	err = s.store.DeleteLeasedMail(ctx, id, tok, s.now())
	if errors.Is(err, ErrNotFound) {
		return ErrLeaseLost
	}
	return err
}

// MailRetry reports a failed attempt at leased mail id: it is due again at next.
func (s *Service) MailRetry(ctx context.Context, caller Caller, id uint64, lease string, attempts int, next time.Time, lastError string) error {
	tok, err := leaseToken(id, lease)
	if err != nil {
		return err
	}
	if len(lastError) > maxOutboxError {
		lastError = lastError[:maxOutboxError]
	}
	err = s.store.RetryLeasedMail(ctx, id, tok, s.now(), attempts, next, lastError)
	if errors.Is(err, ErrNotFound) {
		return ErrLeaseLost
	}
	return err
}

// OutboxDepth counts the mails waiting.
func (s *Service) OutboxDepth(ctx context.Context) (int, error) { return s.store.OutboxDepth(ctx) }
