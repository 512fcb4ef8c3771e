package keyserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/waxseal/waxseal/envelope"
)

// BulkAction is what BulkChange does to every envelope it matches.
type BulkAction string

// The bulk actions: those an incident calls for.
const (
	BulkRevoke BulkAction = "revoke"
	BulkLock   BulkAction = "lock"
)

// MaxBulkPage bounds the envelopes one BulkChange call looks at, so that a
// request does bounded work however many envelopes match: the caller pages on
// with BulkResult.Next.
const MaxBulkPage = 500

// bulkWorkers is how many envelope updates of a page run at once: enough for a
// store that groups concurrent writes into one commit (boltstore) to do so.
const bulkWorkers = 16

// BulkRequest selects envelopes as ListEnvelopes does (at least one of Sender,
// Recipient, Since and Until: no bulk action touches every envelope) and says
// what to do to them.
type BulkRequest struct {
	Action       BulkAction
	Sender       string
	Recipient    string
	Since, Until time.Time
	Reason       string // for BulkLock: the reason the recipients are shown
	// DryRun counts without changing anything.
	DryRun bool
	// After continues from the previous call's Next.
	After *EnvelopeCursor
	// Limit is the most envelopes this call looks at; 0 or above MaxBulkPage
	// means MaxBulkPage.
	Limit int
}

// BulkResult is one page of a bulk action.
type BulkResult struct {
	Matched int // envelopes selected in this page
	// Changed counts the envelopes of the page changed (on a dry run: that would
	// be), each with its own audit record; the others were already revoked, or
	// locked with the same reason.
	Changed int
	// Next continues the action with the next page; nil when no envelope is
	// left (a full page may be the last: the next call then matches none).
	Next *EnvelopeCursor
}

// errUnchanged refuses the update of an envelope already in the state a bulk
// action wants, so that nothing is written or audited for it.
var errUnchanged = errors.New("already changed")

// BulkChange revokes or locks, for an administrator, one page of the envelopes
// req selects, newest first, each with its own audit record. Repeating a call
// changes nothing more: envelopes already revoked (or locked with the same
// reason) are skipped, so an interrupted action is finished by running it
// again.
func (s *Service) BulkChange(ctx context.Context, caller Caller, req BulkRequest) (BulkResult, error) {
	if err := s.requireAdmin(caller); err != nil {
		return BulkResult{}, err
	}
	q, err := s.bulkQuery(&req)
	if err != nil {
		return BulkResult{}, err
	}
	recs, err := s.store.ListEnvelopes(ctx, q)
	if err != nil {
		return BulkResult{}, fmt.Errorf("bulk %s: %w", req.Action, err)
	}
	res := BulkResult{Matched: len(recs)}
	if len(recs) == q.Limit {
		res.Next = CursorOf(&recs[len(recs)-1])
	}
	if req.DryRun {
		for i := range recs {
			if bulkChanges(req, &recs[i]) {
				res.Changed++
			}
		}
		return res, nil
	}

	now := s.now()
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, bulkWorkers)
	)
	for _, rec := range recs {
		if !bulkChanges(req, &rec) {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			changed, err := s.bulkOne(ctx, caller, req, rec, now)
			mu.Lock()
			defer mu.Unlock()
			if changed {
				res.Changed++
			}
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		// The envelopes changed so far stay changed, with their audit records; the
		// same call again finishes the page.
		return res, fmt.Errorf("bulk %s: %d changed before: %w", req.Action, res.Changed, firstErr)
	}
	if req.Action == BulkRevoke {
		s.dropBulkReplies(ctx, recs)
	}
	s.log.InfoContext(ctx, "bulk change", "action", req.Action, "actor", caller.actor(),
		"matched", res.Matched, "changed", res.Changed, "more", res.Next != nil)
	return res, nil
}

// bulkQuery checks req and returns the query for its page.
func (s *Service) bulkQuery(req *BulkRequest) (EnvelopeQuery, error) {
	switch req.Action {
	case BulkRevoke:
	case BulkLock:
		req.Reason = strings.TrimSpace(req.Reason)
		if req.Reason == "" || len(req.Reason) > 500 || strings.ContainsAny(req.Reason, "\r\n\x00") {
			return EnvelopeQuery{}, ErrBadRequest.With("refusal.bulk_lock_reason")
		}
	default:
		return EnvelopeQuery{}, ErrBadRequest.With("refusal.bulk_action", "Action", fmt.Sprintf("%.20q", req.Action))
	}
	for _, a := range []*string{&req.Sender, &req.Recipient} {
		if *a != "" {
			n, err := NormalizeAddress(*a)
			if err != nil {
				return EnvelopeQuery{}, addressRefusal(err)
			}
			*a = n
		}
	}
	if req.Sender == "" && req.Recipient == "" && req.Since.IsZero() && req.Until.IsZero() {
		return EnvelopeQuery{}, ErrBadRequest.With("refusal.bulk_scope")
	}
	if !req.Since.IsZero() && !req.Until.IsZero() && !req.Since.Before(req.Until) {
		return EnvelopeQuery{}, ErrBadRequest.With("refusal.time_range_empty")
	}
	limit := req.Limit
	if limit <= 0 || limit > MaxBulkPage {
		limit = MaxBulkPage
	}
	return EnvelopeQuery{Sender: req.Sender, Recipient: req.Recipient, Since: req.Since, Until: req.Until,
		Limit: limit, After: req.After}, nil
}

// bulkChanges: the action would change rec.
func bulkChanges(req BulkRequest, rec *EnvelopeRecord) bool {
	if req.Action == BulkLock {
		return !rec.Locked || rec.LockReason != req.Reason
	}
	return rec.Revoked.IsZero()
}

// bulkOne applies the action to one envelope, deciding again on the record as
// stored: another change may have come between the listing and now.
func (s *Service) bulkOne(ctx context.Context, caller Caller, req BulkRequest, rec EnvelopeRecord, now time.Time) (bool, error) {
	_, err := s.store.UpdateEnvelope(ctx, rec.ID, func(r *EnvelopeRecord) ([]AuditEvent, error) {
		if !bulkChanges(req, r) {
			return nil, errUnchanged
		}
		ev := AuditEvent{Time: now, Actor: caller.actor(), Envelope: r.ID.String(), ClientIP: caller.IP}
		switch req.Action {
		case BulkLock:
			r.Locked, r.LockReason = true, req.Reason
			ev.Action, ev.Detail = ActionEnvelopeLock, req.Reason
		default:
			r.Revoked = now
			destroyKey(r)
			ev.Action, ev.Detail = ActionEnvelopeRevoke, "bulk"
		}
		return []AuditEvent{ev}, nil
	})
	switch {
	case errors.Is(err, errUnchanged):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("%s %s: %w", req.Action, rec.ID, err)
	}
	return true, nil
}

// dropBulkReplies deletes the replies of a revoked page's envelopes that have
// any: one read for the page, a write only where there are replies. A failure
// is logged; the sweep removes what is left (sweepStaleReplies).
func (s *Service) dropBulkReplies(ctx context.Context, recs []EnvelopeRecord) {
	ids := make([]envelope.ID, len(recs))
	for i := range recs {
		ids[i] = recs[i].ID
	}
	with, err := s.store.RepliesOfEnvelopes(ctx, ids)
	if err != nil {
		s.log.ErrorContext(ctx, "drop replies of revoked envelopes", "err", err)
		return
	}
	for id := range with {
		s.dropRepliesAfter(ctx, id, "revoked")
	}
}
