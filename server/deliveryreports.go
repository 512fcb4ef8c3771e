package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/waxseal/waxseal/keyserver/api"
	"github.com/waxseal/waxseal/keyserver/client"
)

// Delivery states: after each relay attempt of a wrapper mail the gateway tells
// the key server what the next hop did (POST /api/v1/deliveries), so that the
// sender's Sent items and the administrators see delivered, queued (with the
// last error) or refused (with the next hop's reply) per recipient.
//
// Reports never hold mail up: they are queued once the outcome is known and
// sent by a loop of their own (runReports), batched. With a spool they are
// appended to its report log first (spool.AppendReport: a group commit, so
// concurrent messages share one fsync) before the message's 250, and marked
// taken only once the key server took them, so a key server that is down, a
// restart or a crash loses none (a crash may send some twice); without
// a spool they wait in memory (at most maxMemoryReports). The key server keeps
// the newest state by the time the gateway saw it, so a report sent twice or
// late does no harm.

// DeliveryReporter takes delivery states to the key server; *client.Client is
// one. A Config.KeyServer that is not one gets no reports.
type DeliveryReporter interface {
	ReportDeliveries(ctx context.Context, reports []api.DeliveryReport) (api.DeliveryResult, error)
}

const (
	// maxReportBatch is the key server's limit of reports a call.
	maxReportBatch = 1000
	// maxMemoryReports bounds the reports kept without a spool while the key
	// server is away: beyond it the oldest are dropped (and logged).
	maxMemoryReports = 100_000
	// maxReportWait is the longest wait between attempts while the key server
	// refuses or is away.
	maxReportWait = time.Minute
	// reportDelay is how long newly queued reports wait for others to join
	// them in one call. Each call is a durable commit (and audit records) at
	// the key server, which its registrations queue behind: one call a
	// message cost a busy gateway's sealed mail about a quarter of its rate.
	// A sender looking at Sent items does not see a fifth of a second.
	reportDelay = 200 * time.Millisecond
)

type reportQueue struct {
	kick    chan struct{}
	flushMu sync.Mutex // one flush at a time: reports go in order
	mu      sync.Mutex
	memory  []api.DeliveryReport
}

func newReportQueue() *reportQueue { return &reportQueue{kick: make(chan struct{}, 1)} }

func (g *Gateway) reporter() DeliveryReporter {
	r, _ := g.cfg.KeyServer.(DeliveryReporter)
	return r
}

// deliveryReport is one envelope's outcome of a relay attempt; nil for a copy
// that is not an envelope's wrapper mail.
func (g *Gateway) deliveryReport(d delivery, state string, err error) *api.DeliveryReport {
	if d.envelope == "" {
		return nil
	}
	r := &api.DeliveryReport{ID: d.envelope, State: state, At: g.cfg.Now().UTC()}
	if err != nil {
		r.Detail = relayReply(err)
	}
	return r
}

// relayReply is what to tell a sender of a failed relay: the next hop's reply
// when it gave one, else the error. The key server cuts it to one short line.
func relayReply(err error) string {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		if se.EnhancedCode != (smtp.EnhancedCode{}) && se.EnhancedCode != smtp.NoEnhancedCode {
			return truncate(fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message), 1000)
		}
		return truncate(fmt.Sprintf("%d %s", se.Code, se.Message), 1000)
	}
	return truncate(err.Error(), 1000)
}

// queueReports hands reports to the reporting loop. It never fails: a report
// that cannot be written to the spool is kept in memory.
func (g *Gateway) queueReports(ctx context.Context, reports []*api.DeliveryReport) {
	var rs []api.DeliveryReport
	for _, r := range reports {
		if r != nil {
			rs = append(rs, *r)
		}
	}
	if len(rs) == 0 || g.reporter() == nil {
		return
	}
	defer g.kickReports()
	if sp := g.cfg.Spool; sp != nil {
		b, err := json.Marshal(rs)
		if err == nil {
			err = sp.AppendReport(b)
		}
		if err == nil {
			return
		}
		g.log.ErrorContext(ctx, "delivery report not spooled; kept in memory", "error", err)
	}
	q := g.reports
	q.mu.Lock()
	defer q.mu.Unlock()
	q.memory = append(q.memory, rs...)
	if over := len(q.memory) - maxMemoryReports; over > 0 {
		g.log.ErrorContext(ctx, "delivery reports dropped: the key server has not taken them", "dropped", over)
		q.memory = q.memory[over:]
	}
}

func (g *Gateway) kickReports() {
	select {
	case g.reports.kick <- struct{}{}:
	default:
	}
}

// FlushDeliveryReports sends every queued delivery report to the key server
// now, in batches, and returns the first error (what is not sent stays queued).
func (g *Gateway) FlushDeliveryReports(ctx context.Context) error {
	rep := g.reporter()
	if rep == nil {
		return nil
	}
	q := g.reports
	q.flushMu.Lock()
	defer q.flushMu.Unlock()
	if err := g.flushSpooledReports(ctx, rep); err != nil {
		return err
	}
	for {
		q.mu.Lock()
		batch := q.memory[:min(len(q.memory), maxReportBatch)]
		q.mu.Unlock()
		if len(batch) == 0 {
			return nil
		}
		if err := sendReports(ctx, rep, batch); err != nil {
			return err
		}
		q.mu.Lock()
		q.memory = q.memory[len(batch):] // only flush takes from the front
		q.mu.Unlock()
	}
}

func (g *Gateway) flushSpooledReports(ctx context.Context, rep DeliveryReporter) error {
	sp := g.cfg.Spool
	if sp == nil {
		return nil
	}
	for {
		// A record is one queueReports call's reports: a message's copies.
		recs, cursor, damaged, err := sp.ReadReports(maxReportBatch)
		if damaged > 0 {
			// A torn last write (its message got no 250) or a damaged file: it
			// can never be sent.
			g.log.ErrorContext(ctx, "delivery reports unreadable; dropped", "records", damaged)
		}
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			if damaged > 0 {
				return sp.TakeReports(cursor)
			}
			return nil
		}
		var batch []api.DeliveryReport
		for _, b := range recs {
			var rs []api.DeliveryReport
			if err := json.Unmarshal(b, &rs); err != nil {
				g.log.ErrorContext(ctx, "delivery report unreadable; dropped", "error", err)
				continue
			}
			batch = append(batch, rs...)
		}
		if err := sendReports(ctx, rep, batch); err != nil {
			return err
		}
		if err := sp.TakeReports(cursor); err != nil {
			g.log.ErrorContext(ctx, "delivery reports sent but not marked; they will be sent again", "error", err)
			return err
		}
	}
}

// sendReports sends one batch (split if over the key server's limit). A batch
// the key server refuses as malformed can never succeed, so it is logged and
// counted as handed over rather than retried for ever; anything else (down,
// overloaded, a token not yet configured) is retried.
func sendReports(ctx context.Context, rep DeliveryReporter, rs []api.DeliveryReport) error {
	for len(rs) > 0 {
		n := min(len(rs), maxReportBatch)
		_, err := rep.ReportDeliveries(ctx, rs[:n])
		var ae *client.APIError
		if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
			err = nil
		}
		if err != nil {
			return fmt.Errorf("report %d deliveries: %w", n, err)
		}
		rs = rs[n:]
	}
	return nil
}

// runReports sends queued reports until ctx ends: at start, reportDelay after
// reports are queued (with those queued meanwhile), and every RetryInterval;
// while the key server fails, with a wait that doubles up to maxReportWait
// (new reports do not cut it short).
func (g *Gateway) runReports(ctx context.Context) {
	if g.reporter() == nil {
		return
	}
	wait := g.cfg.RetryInterval
	t := time.NewTimer(0)
	defer t.Stop()
	due := time.Now() // when t fires
	failing := false
	for {
		select {
		case <-ctx.Done():
			// A last try, briefly: what is spooled goes on the next start.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := g.FlushDeliveryReports(fctx); err != nil {
				g.log.WarnContext(fctx, "delivery reports not sent at shutdown", "error", err)
			}
			cancel()
			return
		case <-t.C:
		case <-g.reports.kick:
			if next := time.Now().Add(reportDelay); !failing && next.Before(due) {
				stopTimer(t)
				t.Reset(reportDelay)
				due = next
			}
			continue
		}
		if err := g.FlushDeliveryReports(ctx); err != nil {
			if ctx.Err() != nil {
				continue
			}
			wait = min(max(wait*2, g.cfg.RetryInterval), maxReportWait)
			failing = true
			g.log.WarnContext(ctx, "delivery reports not sent; will retry", "retry_in", wait, "error", err)
		} else {
			wait, failing = g.cfg.RetryInterval, false
		}
		stopTimer(t)
		t.Reset(wait)
		due = time.Now().Add(wait)
	}
}

// stopTimer stops t and drains a tick it may hold, so that Reset starts afresh.
func stopTimer(t *time.Timer) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
}
