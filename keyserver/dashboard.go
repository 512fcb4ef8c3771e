package keyserver

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The administrators' dashboard and audit search, both read from the audit
// log: it records every registration, release, refusal and revocation, in
// order, so counting it needs no counters of its own. The log is numbered, not
// indexed by time; its times only grow (records are appended as they happen),
// so the first record of a day is found by bisecting the record numbers.

// MaxStatsDays bounds the dashboard's window.
const MaxStatsDays = 90

// DayStats counts one UTC day's audit records.
type DayStats struct {
	Day     string `json:"day"`     // YYYY-MM-DD, UTC
	Sealed  int    `json:"sealed"`  // envelopes registered
	Opened  int    `json:"opened"`  // envelopes whose key was released (each once a day)
	Revoked int    `json:"revoked"` // envelopes revoked
	Expired int    `json:"expired"` // keys destroyed at or before expiry
	Failed  int    `json:"failed"`  // releases refused (key.deny)
	// Undelivered counts envelopes whose wrapper mail the next hop refused
	// for good, or the gateway gave up on (a delivery report "refused");
	// Queued those the next hop did not take at once (reported "queued").
	// Each envelope once a day.
	Undelivered int `json:"undelivered"`
	Queued      int `json:"queued"`
}

// Stats is the dashboard: the last days, newest last, the outbox, and why
// releases were refused.
type Stats struct {
	Days        []DayStats `json:"days"`
	OutboxDepth int        `json:"outbox_depth"`
	// Denials counts refused releases in the window by reason (the error code:
	// locked, revoked, expired, not_yours…).
	Denials map[string]int `json:"denials"`
	// StillQueued counts the envelopes whose latest delivery report in the
	// window says queued: the gateway is still retrying them (it reports
	// delivered or refused when it stops).
	StillQueued int `json:"still_queued"`
}

// Stats counts the audit log of the last days (1 to MaxStatsDays, today
// included), for an administrator.
func (s *Service) Stats(ctx context.Context, caller Caller, days int) (Stats, error) {
	if err := s.requireAdmin(caller); err != nil {
		return Stats{}, err
	}
	if days < 1 || days > MaxStatsDays {
		return Stats{}, ErrBadRequest.With("refusal.days_range", "Max", MaxStatsDays)
	}
	now := s.now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	since := today.AddDate(0, 0, -(days - 1))
	st := Stats{Denials: map[string]int{}}
	index := map[string]int{}
	for d := since; !d.After(today); d = d.AddDate(0, 0, 1) {
		index[d.Format(time.DateOnly)] = len(st.Days)
		st.Days = append(st.Days, DayStats{Day: d.Format(time.DateOnly)})
	}
	from, err := s.auditSeqAt(ctx, since)
	if err != nil {
		return Stats{}, err
	}
	opened := map[string]bool{}         // day and envelope: an envelope opened twice a day counts once
	reported := map[string]bool{}       // day, state and envelope, likewise for delivery reports
	lastDelivery := map[string]string{} // envelope: the state of its latest report
	err = s.store.Audit(ctx, from, func(r AuditRecord) (bool, error) {
		i, ok := index[r.Time.UTC().Format(time.DateOnly)]
		if !ok {
			return true, nil
		}
		d := &st.Days[i]
		switch r.Action {
		case ActionEnvelopeRegister:
			d.Sealed++
		case ActionKeyRelease:
			if k := d.Day + r.Envelope; !opened[k] {
				opened[k] = true
				d.Opened++
			}
		case ActionEnvelopeRevoke:
			d.Revoked++
		case ActionEnvelopeExpire:
			d.Expired++
		case ActionKeyDeny:
			d.Failed++
			st.Denials[r.Detail]++
		case ActionEnvelopeDelivery:
			// Detail is the state, then ": " and the next hop's reply, if any.
			state, _, _ := strings.Cut(r.Detail, ":")
			lastDelivery[r.Envelope] = state
			if k := d.Day + state + r.Envelope; !reported[k] {
				reported[k] = true
				switch state {
				case DeliveryRefused:
					d.Undelivered++
				case DeliveryQueued:
					d.Queued++
				}
			}
		}
		return true, nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	for _, state := range lastDelivery {
		if state == DeliveryQueued {
			st.StillQueued++
		}
	}
	if st.OutboxDepth, err = s.store.OutboxDepth(ctx); err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	return st, nil
}

// auditRecord returns the first record numbered seq or later.
func (s *Service) auditRecord(ctx context.Context, seq uint64) (AuditRecord, bool, error) {
	var rec AuditRecord
	found := false
	err := s.store.Audit(ctx, seq, func(r AuditRecord) (bool, error) {
		rec, found = r, true
		return false, nil
	})
	return rec, found, err
}

// auditSeqAt returns the number of the first audit record at or after t (one
// past the end if there is none), in a few dozen single-record reads.
func (s *Service) auditSeqAt(ctx context.Context, t time.Time) (uint64, error) {
	// The end: double until past it.
	hi := uint64(1)
	for {
		r, ok, err := s.auditRecord(ctx, hi)
		if err != nil {
			return 0, fmt.Errorf("audit search: %w", err)
		}
		if !ok {
			break
		}
		if !r.Time.Before(t) {
			break // a record at or after t: the answer is at most hi
		}
		hi = r.Seq * 2
	}
	lo := uint64(1)
	for lo < hi { // the first seq in [lo, hi] whose record is at or after t
		mid := lo + (hi-lo)/2
		r, ok, err := s.auditRecord(ctx, mid)
		if err != nil {
			return 0, fmt.Errorf("audit search: %w", err)
		}
		if !ok || !r.Time.Before(t) {
			hi = mid
		} else {
			lo = r.Seq + 1
		}
	}
	return lo, nil
}

// AuditFilter selects audit records; zero fields match everything.
type AuditFilter struct {
	From     uint64 // first record number to look at (0: from Since, or the start)
	Since    time.Time
	Until    time.Time // records before
	Action   AuditAction
	Actor    string
	Envelope string
	Account  string
	Limit    int // records returned; 0 or above MaxAuditPage: MaxAuditPage
}

// MaxAuditPage bounds the records one AuditSearch returns; maxAuditScan the
// records it reads, so that a filter matching little still answers promptly.
const (
	MaxAuditPage = 500
	maxAuditScan = 50000
)

// AuditPage is one page of an audit search.
type AuditPage struct {
	Records []AuditRecord `json:"records"`
	// Next is the record number to continue from (AuditFilter.From); 0 when the
	// search reached the end of the log or of its time range.
	Next uint64 `json:"next,omitempty"`
}

// AuditSearch returns a page of the audit records f selects, oldest first, for
// an administrator.
func (s *Service) AuditSearch(ctx context.Context, caller Caller, f AuditFilter) (AuditPage, error) {
	if err := s.requireAdmin(caller); err != nil {
		return AuditPage{}, err
	}
	limit := f.Limit
	if limit <= 0 || limit > MaxAuditPage {
		limit = MaxAuditPage
	}
	from := f.From
	if from == 0 {
		from = 1
		if !f.Since.IsZero() {
			var err error
			if from, err = s.auditSeqAt(ctx, f.Since); err != nil {
				return AuditPage{}, err
			}
		}
	}
	var page AuditPage
	scanned := 0
	err := s.store.Audit(ctx, from, func(r AuditRecord) (bool, error) {
		if !f.Until.IsZero() && !r.Time.Before(f.Until) {
			return false, nil
		}
		if len(page.Records) == limit || scanned == maxAuditScan {
			page.Next = r.Seq
			return false, nil
		}
		scanned++
		if (f.Since.IsZero() || !r.Time.Before(f.Since)) &&
			(f.Action == "" || r.Action == f.Action) && (f.Actor == "" || r.Actor == f.Actor) &&
			(f.Envelope == "" || r.Envelope == f.Envelope) && (f.Account == "" || r.Account == f.Account) {
			page.Records = append(page.Records, r)
		}
		return true, nil
	})
	if err != nil {
		return AuditPage{}, fmt.Errorf("audit search: %w", err)
	}
	return page, nil
}
