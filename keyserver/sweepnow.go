package keyserver

import (
	"context"
	"fmt"
)

// MaxSweepPage bounds the envelopes one SweepExpired call expires: each call
// is a request of bounded work, and the command line shows progress between
// them.
const MaxSweepPage = 1000

// maxDueCount bounds ExpiryDue's count.
const maxDueCount = 1_000_000

// ExpiryDue counts the envelopes past their expiry whose keys are not yet
// destroyed (at most a million), for an administrator about to sweep them.
func (s *Service) ExpiryDue(ctx context.Context, caller Caller) (int, error) {
	if err := s.requireAdmin(caller); err != nil {
		return 0, err
	}
	ids, err := s.store.ExpiredEnvelopes(ctx, s.now(), maxDueCount)
	if err != nil {
		return 0, fmt.Errorf("count due envelopes: %w", err)
	}
	return len(ids), nil
}

// SweepExpired expires now, as the sweeper does, up to limit (at most
// MaxSweepPage) envelopes past their expiry, each with its envelope.expire
// audit record naming who ran it, and drops their replies. more says whether
// others are still due. Run again until more is false: what is done is not
// done twice.
func (s *Service) SweepExpired(ctx context.Context, caller Caller, limit int) (expired int, more bool, err error) {
	if err := s.requireAdmin(caller); err != nil {
		return 0, false, err
	}
	if limit <= 0 || limit > MaxSweepPage {
		limit = MaxSweepPage
	}
	now := s.now()
	// One more than the page, to tell whether others remain.
	ids, err := s.store.ExpiredEnvelopes(ctx, now, limit+1)
	if err != nil {
		return 0, false, fmt.Errorf("sweep: %w", err)
	}
	if len(ids) > limit {
		ids, more = ids[:limit], true
	}
	detail := "expiry reached; swept by hand by " + caller.actor()
	for _, id := range ids {
		changed := false
		_, err := s.store.UpdateEnvelope(ctx, id, func(rec *EnvelopeRecord) ([]AuditEvent, error) {
			changed = false
			if len(rec.WrappedKey) == 0 {
				return nil, nil // the scheduled sweeper was quicker
			}
			changed = true
			rec.Expired = now
			destroyKey(rec)
			return []AuditEvent{{Time: now, Actor: caller.actor(), Action: ActionEnvelopeExpire, Envelope: id.String(),
				ClientIP: caller.IP, Detail: detail}}, nil
		})
		if err != nil {
			return expired, more, fmt.Errorf("sweep %s: %w", id, err)
		}
		if err := s.dropReplies(ctx, id, "expired"); err != nil {
			return expired, more, err
		}
		if changed {
			expired++
		}
	}
	if expired > 0 {
		s.log.InfoContext(ctx, "expired envelopes by hand", "count", expired, "actor", caller.actor())
	}
	return expired, more, nil
}
