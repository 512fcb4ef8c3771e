package keyserver

import (
	"context"
	"strings"
)

// The administrators' searches behind the console: envelopes by state and
// subject words beside the store's sender, recipient and time filters, page by
// page; accounts by words and role.

// EnvelopeSearch is an administrator's envelope search.
type EnvelopeSearch struct {
	EnvelopeQuery
	// State keeps the envelopes in this state (one of StateFilters); empty:
	// all.
	State string
	// Subject keeps the envelopes whose subject holds these words, in this
	// order, in any case; empty: all.
	Subject string
}

// maxSearchScan bounds the envelopes one filtered search page reads, so that a
// filter matching little still answers promptly (1,500 decode in about 35 ms
// here: docs/BENCHMARKS.md); the page then ends early, with a cursor to read on
// from, which the console follows while it shows progress.
const maxSearchScan = 1500

// SearchEnvelopes returns one page of the envelopes q selects, newest first,
// and the cursor of the next page (nil on the last). q.Limit 0 lists every
// envelope when nothing filters by state or subject (as ListEnvelopes), and
// 500 otherwise.
func (s *Service) SearchEnvelopes(ctx context.Context, caller Caller, q EnvelopeSearch) ([]EnvelopeRecord, *EnvelopeCursor, error) {
	if !validStateFilter(q.State) {
		return nil, nil, ErrBadRequest.With("refusal.state_values")
	}
	subject := foldWords(q.Subject)
	if q.State == "" && subject == "" {
		if q.Limit == 0 {
			recs, err := s.ListEnvelopes(ctx, caller, q.EnvelopeQuery)
			return recs, nil, err
		}
		// One more says whether a next page exists, so the last is never empty.
		want := q.Limit
		q.Limit++
		recs, err := s.ListEnvelopes(ctx, caller, q.EnvelopeQuery)
		if err != nil || len(recs) <= want {
			return recs, nil, err
		}
		recs = recs[:want]
		return recs, CursorOf(&recs[want-1]), nil
	}
	want := q.Limit
	if want <= 0 || want > 500 {
		want = 500
	}
	now := s.now()
	var out []EnvelopeRecord
	scanned := 0
	q.Limit = min(500, maxSearchScan)
	for {
		page, err := s.ListEnvelopes(ctx, caller, q.EnvelopeQuery)
		if err != nil {
			return nil, nil, err
		}
		for i := range page {
			r := &page[i]
			scanned++
			if (q.State == "" || inState(r, q.State, now)) &&
				(subject == "" || strings.Contains(foldWords(r.Subject), subject)) {
				out = append(out, *r)
				if len(out) == want {
					if i == len(page)-1 && len(page) < q.Limit {
						return out, nil, nil
					}
					return out, CursorOf(r), nil
				}
			}
			if scanned == maxSearchScan && (i < len(page)-1 || len(page) == q.Limit) {
				return out, CursorOf(r), nil
			}
		}
		if len(page) < q.Limit {
			return out, nil, nil
		}
		q.After = CursorOf(&page[len(page)-1])
	}
}

// foldWords is text as searches compare it: lower case, one space between words.
func foldWords(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

// AccountSearch is an administrator's account search.
type AccountSearch struct {
	Text  string // in the address or the name, in any case; empty: all
	Role  Role   // empty: all
	Limit int    // 0: all
}

// SearchAccounts lists the accounts q selects, in address order.
func (s *Service) SearchAccounts(ctx context.Context, caller Caller, q AccountSearch) ([]Account, error) {
	switch q.Role {
	case "", RoleRecipient, RoleSender, RoleAdmin:
	default:
		return nil, ErrBadRequest.With("refusal.role_values")
	}
	accs, err := s.ListAccounts(ctx, caller)
	if err != nil {
		return nil, err
	}
	text := strings.ToLower(strings.TrimSpace(q.Text))
	out := accs[:0]
	for _, a := range accs {
		if q.Role != "" && a.Role != q.Role {
			continue
		}
		if text != "" && !strings.Contains(strings.ToLower(a.Email+" "+a.FirstName+" "+a.LastName), text) {
			continue
		}
		out = append(out, a)
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
