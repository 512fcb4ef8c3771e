package keyserver

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/waxseal/waxseal/envelope"
)

// What the next hop did with an envelope's wrapper mail, as the gateway
// reports it (POST /api/v1/deliveries).
const (
	// DeliveryDelivered: the next hop accepted the copy.
	DeliveryDelivered = "delivered"
	// DeliveryQueued: the next hop did not take it yet; the gateway's spool
	// retries it. Detail is the last error.
	DeliveryQueued = "queued"
	// DeliveryRefused: the next hop refused it for good (5xx), or the gateway
	// gave up retrying. Detail is the next hop's reply.
	DeliveryRefused = "refused"
)

// ActionEnvelopeDelivery records a change of an envelope's delivery state.
const ActionEnvelopeDelivery AuditAction = "envelope.delivery"

// MaxDeliveryDetail bounds a delivery's detail, in runes: the next hop's reply
// is shown to the sender, and one line of it says enough.
const MaxDeliveryDetail = 300

// MaxDeliveryBatch bounds the reports of one call.
const MaxDeliveryBatch = 1000

// Delivery is an envelope's delivery state: the latest report of the gateway
// that relayed its wrapper mail. Nil on an envelope until the first report.
type Delivery struct {
	State  string `json:"state"`
	Detail string `json:"detail,omitempty"`
	// GaveUpAfter, on a refused copy, is how long the gateway tried before
	// it gave up, in seconds; 0 when the next hop refused it for good. A
	// number, not words: each reader's page says it in their language.
	GaveUpAfter int64     `json:"gave_up_after,omitempty"`
	At          time.Time `json:"at"` // when the gateway saw it happen
}

// DeliveryUpdate is one report for one envelope.
type DeliveryUpdate struct {
	ID envelope.ID
	Delivery
}

// DeliveryStore keeps delivery states with their envelopes.
type DeliveryStore interface {
	// SetDeliveries applies the reports in one transaction, each with
	// ApplyDelivery and, when it changes the envelope, its audit record
	// (actor "gateway", at now). Reports for unknown envelopes are skipped. It
	// returns how many envelopes changed.
	SetDeliveries(ctx context.Context, updates []DeliveryUpdate, now time.Time) (int, error)
}

// ApplyDelivery sets u on r unless r already holds a newer or final state,
// and returns the audit event of the change; ok is false when nothing changed.
// Reports can arrive late and out of order (the gateway retries them while the
// key server is away), so the time the gateway saw each one decides: an older
// report never overwrites a newer one, a repeated one changes nothing, and at
// the same instant a final state (delivered, refused) wins over queued.
func ApplyDelivery(r *EnvelopeRecord, u DeliveryUpdate, now time.Time) (ev AuditEvent, ok bool) {
	if d := r.Delivery; d != nil {
		switch {
		case u.At.Before(d.At):
			return AuditEvent{}, false
		case u.At.Equal(d.At) && d.State != DeliveryQueued && u.State == DeliveryQueued:
			return AuditEvent{}, false
		case d.State == u.State && d.Detail == u.Detail && d.GaveUpAfter == u.GaveUpAfter:
			return AuditEvent{}, false
		}
	}
	d := u.Delivery
	d.At = d.At.UTC()
	r.Delivery = &d
	detail := d.State
	if d.GaveUpAfter > 0 {
		// The audit log's words, as they were when the gateway sent them.
		detail += ": given up after " + (time.Duration(d.GaveUpAfter) * time.Second).String()
	}
	if d.Detail != "" {
		detail += ": " + d.Detail
	}
	return AuditEvent{Time: now, Actor: "gateway", Action: ActionEnvelopeDelivery, Envelope: r.ID.String(), Detail: detail}, true
}

// DeliveryReport is one report as the gateway sends it.
type DeliveryReport struct {
	ID          string
	State       string
	Detail      string
	GaveUpAfter int64 // seconds; kept on a refused report only
	At          time.Time
}

// ReportDeliveries records what the next hop did with envelopes' wrapper
// mails (the gateway's API). Details are made one printable line of at most
// MaxDeliveryDetail runes: they come from a remote server and are shown to
// senders. A time in the future (the gateway's clock ahead) counts as now.
func (s *Service) ReportDeliveries(ctx context.Context, reports []DeliveryReport) (changed int, err error) {
	if len(reports) > MaxDeliveryBatch {
		return 0, ErrBadRequest.With("refusal.delivery_many", "Max", MaxDeliveryBatch)
	}
	now := s.now()
	updates := make([]DeliveryUpdate, 0, len(reports))
	for _, r := range reports {
		id, err := envelope.ParseID(r.ID)
		if err != nil {
			return 0, ErrBadRequest.With("refusal.delivery_bad_id", "ID", fmt.Sprintf("%q", printableCut(r.ID, 40)))
		}
		switch r.State {
		case DeliveryDelivered, DeliveryQueued, DeliveryRefused:
		default:
			return 0, ErrBadRequest.With("refusal.delivery_state", "ID", id, "State", fmt.Sprintf("%q", printableCut(r.State, 20)))
		}
		if r.At.IsZero() {
			return 0, ErrBadRequest.With("refusal.delivery_no_time", "ID", id)
		}
		at := r.At
		if at.After(now) {
			at = now
		}
		d := Delivery{State: r.State, Detail: DeliveryDetail(r.Detail), At: at}
		if r.State == DeliveryRefused && r.GaveUpAfter > 0 {
			d.GaveUpAfter = r.GaveUpAfter
		}
		updates = append(updates, DeliveryUpdate{ID: id, Delivery: d})
	}
	if len(updates) == 0 {
		return 0, nil
	}
	changed, err = s.store.SetDeliveries(ctx, updates, now)
	if err != nil {
		return 0, fmt.Errorf("record %d delivery reports: %w", len(updates), err)
	}
	s.log.InfoContext(ctx, "delivery reports", "count", len(updates), "changed", changed)
	return changed, nil
}

// DeliveryDetail makes a next hop's reply fit to show: one line, control
// characters and runs of blanks made single spaces, at most MaxDeliveryDetail
// runes.
func DeliveryDetail(s string) string {
	var b strings.Builder
	n := 0
	space := false
	for _, r := range s {
		if unicode.Is(unicode.Cf, r) { // bidi overrides and the like: never shown
			continue
		}
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == unicode.ReplacementChar {
			space = b.Len() > 0
			continue
		}
		if n >= MaxDeliveryDetail {
			b.WriteString("…")
			break
		}
		if space {
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
