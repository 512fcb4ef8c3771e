package keyserver

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// SentMessage is one message as its sender wrote it. The gateway registers one
// envelope per recipient, all with the same message name (EnvelopeRecord.Message).
// Envelopes from older gateways, without one, group by sender, subject and
// creation time (to the second, as envelopes carry it): two messages with one
// subject sent in the same second then show as one.
type SentMessage struct {
	Subject   string
	Created   time.Time
	Envelopes []EnvelopeRecord // one per recipient, by address
}

// GroupSent folds a sender's envelopes (newest first, as ListEnvelopes gives
// them) into messages, newest first. Envelopes of one message need not be
// adjacent: a listing orders by time, and two messages sent in the same
// nanosecond with different subjects interleave.
func GroupSent(recs []EnvelopeRecord) []SentMessage {
	type key struct {
		sender, message, subject string
		created                  int64
	}
	index := make(map[key]int, len(recs))
	var out []SentMessage
	for _, r := range recs {
		k := key{sender: r.Sender, message: r.Message}
		if r.Message == "" {
			k.subject, k.created = r.Subject, r.Created.UnixNano()
		}
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, SentMessage{Subject: r.Subject, Created: r.Created})
		}
		out[i].Envelopes = append(out[i].Envelopes, r)
	}
	for _, m := range out {
		slices.SortStableFunc(m.Envelopes, func(a, b EnvelopeRecord) int { return strings.Compare(a.Recipient, b.Recipient) })
	}
	return out
}

// SentQuery asks for one page of a sender's Sent items.
type SentQuery struct {
	Recipient string // only the copies to this address; empty: all
	// State keeps the messages with at least one copy in this state (see
	// StateFilters); empty: all.
	State string
	// Subject keeps the messages whose subject holds these words, in this
	// order, in any case; empty: all.
	Subject string
	Since   time.Time       // sent at or after; zero: any time
	Until   time.Time       // sent before; zero: any time
	Limit   int             // envelopes per page, at least; 0 or more than 500: 500
	After   *EnvelopeCursor // the Next of the previous page
}

// SentMessages lists what the signed-in sender sent as messages, newest first.
// A page holds at least q.Limit envelopes, more when the last message's
// envelopes would otherwise split across pages: a page ends only where the
// creation time changes, and one message's envelopes share theirs. next is
// nil on the last page (never an empty one, unless nothing was sent).
func (s *Service) SentMessages(ctx context.Context, caller Caller, q SentQuery) (msgs []SentMessage, next *EnvelopeCursor, err error) {
	subject := foldWords(q.Subject)
	if q.State == "" && subject == "" {
		return s.sentPage(ctx, caller, q)
	}
	if !validStateFilter(q.State) {
		return nil, nil, ErrBadRequest.With("refusal.state_values")
	}
	// A page can hold no message in the state or with the words: read on, a
	// bounded number of pages, so that the answer is rarely an empty page with
	// more behind it.
	now := s.now()
	for range 20 {
		page, after, err := s.sentPage(ctx, caller, q)
		if err != nil {
			return nil, nil, err
		}
		for _, m := range page {
			if subject != "" && !strings.Contains(foldWords(m.Subject), subject) {
				continue
			}
			if q.State == "" || slices.ContainsFunc(m.Envelopes, func(r EnvelopeRecord) bool { return inState(&r, q.State, now) }) {
				msgs = append(msgs, m)
			}
		}
		if next = after; next == nil || len(msgs) > 0 {
			break
		}
		q.After = next
	}
	return msgs, next, nil
}

// EnvelopeState is where an envelope stands: active, locked, revoked or
// expired, the first that applies from the end of that list.
func EnvelopeState(r *EnvelopeRecord, now time.Time) string {
	switch {
	case !r.Revoked.IsZero():
		return "revoked"
	case !r.Expired.IsZero() || len(r.WrappedKey) == 0 || (!r.Expires.IsZero() && !now.Before(r.Expires)):
		return "expired"
	case r.Locked:
		return "locked"
	}
	return "active"
}

// StateFilters are the states Sent items and the administrators' search
// filter by: EnvelopeState's; whether the key was ever released; and what the
// next hop did with the wrapper mail, as the gateway last reported it
// (DeliveryDelivered, DeliveryQueued, DeliveryRefused; an envelope without a
// report is in none of those three).
var StateFilters = []string{"active", "locked", "revoked", "expired", "opened", "unopened",
	DeliveryDelivered, DeliveryQueued, DeliveryRefused}

// validStateFilter reports whether state is one of StateFilters, or empty.
func validStateFilter(state string) bool {
	return state == "" || slices.Contains(StateFilters, state)
}

func inState(r *EnvelopeRecord, state string, now time.Time) bool {
	switch state {
	case "opened":
		return !r.FirstOpen.IsZero()
	case "unopened":
		return r.FirstOpen.IsZero()
	case DeliveryDelivered, DeliveryQueued, DeliveryRefused:
		return r.Delivery != nil && r.Delivery.State == state
	}
	return EnvelopeState(r, now) == state
}

func (s *Service) sentPage(ctx context.Context, caller Caller, q SentQuery) (msgs []SentMessage, next *EnvelopeCursor, err error) {
	if caller.Account == nil {
		return nil, nil, ErrSignInRequired
	}
	if caller.Account.Role == RoleRecipient {
		return nil, nil, ErrForbidden.With("refusal.sent_items_org")
	}
	if q.Recipient != "" {
		if q.Recipient, err = NormalizeAddress(q.Recipient); err != nil {
			return nil, nil, addressRefusal(err)
		}
	}
	if q.Limit <= 0 || q.Limit > 500 {
		q.Limit = 500
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return nil, nil, ErrBadRequest.With("refusal.time_range_empty")
	}
	eq := EnvelopeQuery{Sender: caller.Account.Email, Recipient: q.Recipient, Since: q.Since, Until: q.Until, Limit: q.Limit, After: q.After}
	recs, err := s.store.ListEnvelopes(ctx, eq)
	if err != nil {
		return nil, nil, fmt.Errorf("sent envelopes: %w", err)
	}
	if len(recs) < q.Limit {
		return GroupSent(recs), nil, nil
	}
	// Finish the last instant: the rest of its envelopes, a page at a time.
	for {
		last := recs[len(recs)-1]
		more, err := s.store.ListEnvelopes(ctx, EnvelopeQuery{Sender: eq.Sender, Recipient: eq.Recipient,
			Since: last.Created, Until: eq.Until, Limit: q.Limit, After: CursorOf(&last)})
		if err != nil {
			return nil, nil, fmt.Errorf("sent envelopes: %w", err)
		}
		recs = append(recs, more...)
		if len(more) < q.Limit {
			break
		}
	}
	last := recs[len(recs)-1]
	// One envelope more says whether there is a next page, so the last page
	// is never an empty one.
	probe, err := s.store.ListEnvelopes(ctx, EnvelopeQuery{Sender: eq.Sender, Recipient: eq.Recipient, Since: eq.Since, Until: eq.Until, Limit: 1, After: CursorOf(&last)})
	if err != nil {
		return nil, nil, fmt.Errorf("sent envelopes: %w", err)
	}
	if len(probe) == 0 {
		return GroupSent(recs), nil, nil
	}
	return GroupSent(recs), CursorOf(&last), nil
}
