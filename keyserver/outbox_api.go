package keyserver

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// The outbox API lets a gateway send the key server's mail (codes, receipts) for
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

// Outbox API limits.
const (
	maxLeaseBatch    = 100
	defaultLease     = 2 * time.Minute
	minLease         = 10 * time.Second
	maxLease         = time.Hour
	maxOutboxError   = 1000
	defaultLeaseSize = 20
)

// ErrLeaseLost refuses a report for a mail whose lease ended and was taken over.
var ErrLeaseLost = &Error{http.StatusConflict, "lease_lost", "The lease on this mail ended before it was reported; another drainer has it.", 0}

// LeasedMail is an outbox mail leased to a drainer, with the lease to report with.
type LeasedMail struct {
	OutboxMail
	Lease string `json:"lease"`
}

type lease struct {
	token   string
	expires time.Time
	mail    OutboxMail
}

type outboxAPI struct {
	s      *Service
	mu     sync.Mutex
	leases map[uint64]lease
}

// routeOutbox adds the outbox API (gateway token) under api.
func (h *handlers) routeOutbox(api *echo.Group) {
	o := &outboxAPI{s: h.s, leases: map[uint64]lease{}}
	g := api.Group("/outbox", h.gatewayOnly, h.bodyLimit(maxAPIBody))
	g.POST("/lease", o.lease)
	g.POST("/:id/done", o.done)
	g.POST("/:id/retry", o.retry)
	g.GET("/depth", o.depth)
}

func (o *outboxAPI) lease(c echo.Context) error {
	var req struct {
		Limit        int `json:"limit"`
		LeaseSeconds int `json:"lease_seconds"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.Limit <= 0 {
		req.Limit = defaultLeaseSize
	}
	req.Limit = min(req.Limit, maxLeaseBatch)
	d := defaultLease
	if req.LeaseSeconds > 0 {
		d = min(max(time.Duration(req.LeaseSeconds)*time.Second, minLease), maxLease)
	}
	ctx := c.Request().Context()
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.s.now()
	due, err := o.s.store.DueMail(ctx, now, req.Limit)
	if err != nil {
		return err
	}
	out := []LeasedMail{}
	for _, m := range due {
		until := now.Add(d)
		leased := m
		leased.NextAttempt = until
		if err := o.s.store.UpdateMail(ctx, leased); err != nil {
			if errors.Is(err, ErrNotFound) {
				continue
			}
			return err
		}
		tok := strconv.FormatUint(m.ID, 10) + "." + NewAPIToken()
		o.leases[m.ID] = lease{token: tok, expires: until, mail: leased}
		out = append(out, LeasedMail{OutboxMail: m, Lease: tok})
	}
	for id, l := range o.leases {
		if now.After(l.expires) {
			delete(o.leases, id)
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"mails": out, "lease_seconds": int(d.Seconds())})
}

// held returns the lease on id if tok is its current, unexpired token.
func (o *outboxAPI) held(c echo.Context, tok string) (uint64, lease, error) {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil {
		return 0, lease{}, ErrBadRequest.with("Bad mail id.")
	}
	l, ok := o.leases[id]
	if !ok || tok == "" || subtle.ConstantTimeCompare([]byte(l.token), []byte(tok)) != 1 || o.s.now().After(l.expires) {
		return 0, lease{}, ErrLeaseLost
	}
	return id, l, nil
}

func (o *outboxAPI) done(c echo.Context) error {
	var req struct {
		Lease string `json:"lease"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	id, _, err := o.held(c, req.Lease)
	if err != nil {
		return err
	}
	if err := o.s.store.DeleteMail(c.Request().Context(), id); err != nil {
		return err
	}
	delete(o.leases, id)
	return c.NoContent(http.StatusNoContent)
}

func (o *outboxAPI) retry(c echo.Context) error {
	var req struct {
		Lease       string    `json:"lease"`
		Attempts    int       `json:"attempts"`
		NextAttempt time.Time `json:"next_attempt"`
		LastError   string    `json:"last_error"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	id, l, err := o.held(c, req.Lease)
	if err != nil {
		return err
	}
	m := l.mail
	m.Attempts = max(req.Attempts, m.Attempts)
	m.NextAttempt = req.NextAttempt
	if len(req.LastError) > maxOutboxError {
		req.LastError = req.LastError[:maxOutboxError]
	}
	m.LastError = req.LastError
	if err := o.s.store.UpdateMail(c.Request().Context(), m); err != nil {
		return err
	}
	delete(o.leases, id)
	return c.NoContent(http.StatusNoContent)
}

func (o *outboxAPI) depth(c echo.Context) error {
	n, err := o.s.store.OutboxDepth(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int{"depth": n})
}
