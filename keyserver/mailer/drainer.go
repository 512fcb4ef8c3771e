package mailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// Outbox is the part of keyserver.Store that the Drainer uses.
type Outbox interface {
	DueMail(ctx context.Context, now time.Time, limit int) ([]keyserver.OutboxMail, error)
	UpdateMail(ctx context.Context, m keyserver.OutboxMail) error
	DeleteMail(ctx context.Context, id uint64) error
	OutboxDepth(ctx context.Context) (int, error)
}

var _ Outbox = keyserver.Store(nil)

// leaser is what an Outbox that can lease mail has (keyserver.OutboxLeaseStore):
// the Drainer then leases each batch rather than reading it, so that two
// drainers on one store (two key server nodes, for a moment) never take the
// same mail; the key server's stores all can.
type leaser interface {
	LeaseMail(ctx context.Context, now, until time.Time, token string, limit int) ([]keyserver.OutboxMail, error)
}

// drainLease is how long a leased batch is the Drainer's alone: a mail whose
// send was cut short is due again after it.
const drainLease = 2 * time.Minute

// DrainerConfig configures a Drainer. Zero fields take the defaults given.
type DrainerConfig struct {
	// Interval is how often the outbox is polled; default 5s. Kick makes enqueued
	// mail go out without waiting for it.
	Interval time.Duration
	// Batch is how many mails one DrainOnce takes; default 50.
	Batch int
	// FirstBackoff is the wait after the first failure, doubled after each further
	// failure up to MaxBackoff; defaults 30s and 1h.
	FirstBackoff time.Duration
	MaxBackoff   time.Duration
	// A mail that fails temporarily is given up once it has had MaxAttempts
	// attempts (0: no limit) or is MaxAge old (default 48h; negative: no limit).
	MaxAttempts int
	MaxAge      time.Duration
	// OnGiveUp is called after a mail is given up and deleted, with the mail as
	// last attempted and the final error, so the key server can audit it. It
	// receives the message body: it must not log it.
	OnGiveUp func(keyserver.OutboxMail, error)
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now; tests set a fake clock.
	Now func() time.Time
}

// maxLastError keeps a chatty server's reply from bloating the outbox.
const maxLastError = 1000

// Drainer sends the outbox's due mail through a Sender. Delivery is at least
// once: a mail is deleted only after the Sender accepted it, so a crash or a store
// failure in between sends it again rather than losing it.
type Drainer struct {
	outbox Outbox
	sender Sender
	cfg    DrainerConfig
	log    *slog.Logger
	kick   chan struct{}

	// drainMu serializes passes, so a DrainOnce called while Run is going never
	// sends the same due mail a second time.
	drainMu sync.Mutex
}

// NewDrainer returns a Drainer; call Run to start it.
func NewDrainer(outbox Outbox, sender Sender, cfg DrainerConfig) *Drainer {
	if outbox == nil || sender == nil {
		panic("mailer: NewDrainer needs an outbox and a sender")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 50
	}
	if cfg.FirstBackoff <= 0 {
		cfg.FirstBackoff = 30 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Hour
	}
	if cfg.MaxBackoff < cfg.FirstBackoff {
		cfg.MaxBackoff = cfg.FirstBackoff
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 48 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Drainer{
		outbox: outbox,
		sender: sender,
		cfg:    cfg,
		log:    log,
		kick:   make(chan struct{}, 1),
	}
}

// Kick wakes Run for a pass now, without blocking; call it right after an
// enqueue so a sign-in code does not wait for the next poll.
func (d *Drainer) Kick() {
	select {
	case d.kick <- struct{}{}:
	default: // a pass is already pending, and it will see this mail too
	}
}

// Run drains the outbox at once, then every Interval and on each Kick, until ctx
// is done; it returns ctx's error. Store failures are logged and retried at the
// next pass rather than ending Run: the outbox keeps the mail meanwhile.
func (d *Drainer) Run(ctx context.Context) error {
	// Mail may have queued while no drainer ran, so the first pass is immediate.
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		case <-d.kick:
		}
		d.drainAll(ctx)
		timer.Reset(d.cfg.Interval)
	}
}

// drainAll takes batch after batch while batches come back full, so a backlog
// does not trickle out one batch per Interval.
func (d *Drainer) drainAll(ctx context.Context) {
	for ctx.Err() == nil {
		sent, failed, err := d.DrainOnce(ctx)
		if err != nil {
			if ctx.Err() == nil {
				d.log.ErrorContext(ctx, "outbox drain failed", "sent", sent, "failed", failed, "error", err)
			}
			return
		}
		if sent+failed > 0 {
			attrs := []any{"sent", sent, "failed", failed}
			if depth, err := d.outbox.OutboxDepth(ctx); err == nil {
				attrs = append(attrs, "depth", depth)
			}
			d.log.InfoContext(ctx, "outbox drained", attrs...)
		}
		if sent+failed < d.cfg.Batch {
			return
		}
	}
}

// DrainOnce takes one batch of due mail and tries each once. sent counts mails
// delivered and deleted; failed counts mails rescheduled or given up. err is a
// store failure or ctx's error, which end the pass early; a mail whose sending
// was cut short by ctx is left untouched, its attempt not counted (from a
// store that leases, it is due again when the lease ends).
func (d *Drainer) DrainOnce(ctx context.Context) (sent, failed int, err error) {
	d.drainMu.Lock()
	defer d.drainMu.Unlock()

	var mails []keyserver.OutboxMail
	if l, ok := d.outbox.(leaser); ok {
		now := d.cfg.Now()
		mails, err = l.LeaseMail(ctx, now, now.Add(drainLease), keyserver.NewAPIToken(), d.cfg.Batch)
	} else {
		mails, err = d.outbox.DueMail(ctx, d.cfg.Now(), d.cfg.Batch)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("due mail: %w", err)
	}
	for _, m := range mails {
		if err := ctx.Err(); err != nil {
			return sent, failed, err
		}
		delivered, err := d.try(ctx, m)
		if delivered {
			sent++
		} else if err == nil {
			failed++
		}
		if err != nil {
			return sent, failed, err
		}
	}
	return sent, failed, nil
}

// try sends one mail and records the outcome. It reports whether the mail was
// delivered, and an error only when the outcome could not be recorded (or ctx
// ended), the send failure itself being recorded in the mail.
func (d *Drainer) try(ctx context.Context, m keyserver.OutboxMail) (bool, error) {
	attempt := m.Attempts + 1
	log := d.log.With("mail_id", m.ID, "recipients", len(m.To), "attempt", attempt)

	sendErr := d.sender.Send(ctx, m.From, m.To, m.Message)
	if sendErr == nil {
		if err := d.outbox.DeleteMail(ctx, m.ID); err != nil {
			// Sent but still queued: it will go out again. A duplicate beats a
			// lost code.
			log.ErrorContext(ctx, "mail sent but not removed from outbox; it will be sent again", "error", err)
			return false, fmt.Errorf("delete sent mail %d: %w", m.ID, err)
		}
		log.InfoContext(ctx, "mail sent")
		return true, nil
	}
	if ctx.Err() != nil {
		// Shutting down is not the mail's fault: leave it due, attempt uncounted.
		return false, ctx.Err()
	}

	sendErr = fmt.Errorf("send mail %d: %w", m.ID, sendErr)
	now := d.cfg.Now()
	m.Attempts = attempt
	m.LastError = truncate(sendErr.Error(), maxLastError)

	if reason := d.giveUpReason(m, now, sendErr); reason != "" {
		if err := d.outbox.DeleteMail(ctx, m.ID); err != nil {
			log.ErrorContext(ctx, "could not remove given-up mail", "reason", reason, "error", err)
			return false, fmt.Errorf("delete given-up mail %d: %w", m.ID, errors.Join(err, sendErr))
		}
		log.ErrorContext(ctx, "mail given up", "reason", reason, "error", sendErr)
		if d.cfg.OnGiveUp != nil {
			d.cfg.OnGiveUp(m, sendErr)
		}
		return false, nil
	}

	m.NextAttempt = now.Add(d.backoff(m.Attempts))
	if err := d.outbox.UpdateMail(ctx, m); err != nil {
		log.ErrorContext(ctx, "could not reschedule mail", "send_error", sendErr, "error", err)
		return false, fmt.Errorf("reschedule mail %d: %w", m.ID, err)
	}
	log.WarnContext(ctx, "mail send failed, will retry", "next_attempt", m.NextAttempt, "error", sendErr)
	return false, nil
}

// giveUpReason says why m, which just failed with err, should not be retried, or
// "" if it should. Limits are checked only after an attempt, so a mail is never
// dropped untried because the drainer itself was down for a while.
func (d *Drainer) giveUpReason(m keyserver.OutboxMail, now time.Time, err error) string {
	switch {
	case IsPermanent(err):
		return "permanent failure"
	case d.cfg.MaxAttempts > 0 && m.Attempts >= d.cfg.MaxAttempts:
		return "too many attempts"
	// A zero Created is a store bug; better to retry than to drop at once.
	case d.cfg.MaxAge > 0 && !m.Created.IsZero() && now.Sub(m.Created) >= d.cfg.MaxAge:
		return "too old"
	}
	return ""
}

// backoff is the wait after the attempts-th failure: FirstBackoff doubled
// attempts-1 times, at most MaxBackoff.
func (d *Drainer) backoff(attempts int) time.Duration {
	b := d.cfg.FirstBackoff
	for i := 1; i < attempts; i++ {
		if b >= d.cfg.MaxBackoff/2 {
			return d.cfg.MaxBackoff
		}
		b *= 2
	}
	return min(b, d.cfg.MaxBackoff)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary so the stored string stays valid UTF-8.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
