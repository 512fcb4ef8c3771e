package server

import (
	"context"
	"sync"
	"time"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
	"github.com/waxseal/waxseal/keyserver/mailer"
	"github.com/waxseal/waxseal/server/spool"
)

// Kick makes RunSpool look at the spool now.
func (g *Gateway) Kick() {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// RunSpool retries spooled deliveries until ctx ends: at once (mail spooled
// before a crash goes out on restart), every RetryInterval, and on Kick.
func (g *Gateway) RunSpool(ctx context.Context) error {
	// Delivery reports have a loop of their own: a key server that is away
	// must not hold up retries of mail.
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { g.runReports(ctx) })
	if g.cfg.Spool == nil {
		<-ctx.Done()
		return ctx.Err()
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-g.kick:
		}
		g.RetryOnce(ctx)
		t.Reset(g.cfg.RetryInterval)
	}
}

// RetryOnce tries every due entry once and returns how many were delivered.
func (g *Gateway) RetryOnce(ctx context.Context) int {
	sp := g.cfg.Spool
	due, err := sp.Due(g.cfg.Now())
	if err != nil {
		g.log.ErrorContext(ctx, "spool read", "error", err)
	}
	sent := 0
	for _, e := range due {
		if ctx.Err() != nil {
			return sent
		}
		if g.retry(ctx, sp, e) {
			sent++
		}
	}
	return sent
}

func (g *Gateway) retry(ctx context.Context, sp *spool.Spool, e spool.Entry) bool {
	log := g.log.With("spool_id", e.ID, "kind", e.Kind, "to", e.To, "attempt", e.Attempts+1, "possibly_delivered", e.PossiblyDelivered)
	msg, err := sp.Message(e.ID)
	if err != nil {
		log.ErrorContext(ctx, "spooled message unreadable", "error", err)
		return false
	}
	d := delivery{from: e.From, to: e.To, msg: msg, requireTLS: e.RequireTLS, kind: e.Kind, notify: e.Notify, subject: e.Subject, envelope: e.Envelope}
	err = g.relay(ctx, d)
	if err == nil {
		g.queueReports(ctx, []*api.DeliveryReport{g.deliveryReport(d, keyserver.DeliveryDelivered, nil)})
		if err := sp.Remove(e.ID); err != nil {
			log.ErrorContext(ctx, "relayed but not removed from the spool; it will be sent again", "error", err)
		}
		log.InfoContext(ctx, "spooled delivery relayed")
		return true
	}
	if ctx.Err() != nil {
		return false
	}
	now := g.cfg.Now()
	e.Attempts++
	e.LastError = truncate(err.Error(), 1000)
	e.PossiblyDelivered = e.PossiblyDelivered || mailer.IsUncertain(err)
	if mailer.IsPermanent(err) || now.Sub(e.Created) >= g.cfg.GiveUpAfter {
		log.ErrorContext(ctx, "spooled delivery given up", "error", err)
		g.notifyFailure(ctx, d, err, !mailer.IsPermanent(err), e.PossiblyDelivered)
		if r := g.deliveryReport(d, keyserver.DeliveryRefused, nil); r != nil {
			r.Detail = relayReply(err)
			if !mailer.IsPermanent(err) {
				// How long it was tried, as a number: the sender's page says
				// it in their language.
				r.GaveUpAfter = int64(g.cfg.GiveUpAfter / time.Second)
			}
			g.queueReports(ctx, []*api.DeliveryReport{r})
		}
		if err := sp.Remove(e.ID); err != nil {
			log.ErrorContext(ctx, "could not remove a given-up entry", "error", err)
		}
		return false
	}
	e.NextAttempt = now.Add(g.backoff(e.Attempts))
	if err := sp.Update(e); err != nil {
		log.ErrorContext(ctx, "could not reschedule", "error", err)
	}
	log.WarnContext(ctx, "spooled delivery failed, will retry", "next_attempt", e.NextAttempt, "error", err)
	g.queueReports(ctx, []*api.DeliveryReport{g.deliveryReport(d, keyserver.DeliveryQueued, err)})
	return false
}

// backoff is the wait after the n-th failure: RetryFirst doubled n-1 times, at
// most RetryMax.
func (g *Gateway) backoff(n int) time.Duration {
	b := g.cfg.RetryFirst
	for i := 1; i < n && b < g.cfg.RetryMax; i++ {
		b *= 2
	}
	return min(b, g.cfg.RetryMax)
}
