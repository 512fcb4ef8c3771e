package keyserver

import (
	"context"
	"slices"
	"strings"
	"time"
)

// SentMessage is one message as its sender wrote it. The gateway registers one
// envelope per recipient, all with the same submission time (the job's clock,
// to the nanosecond) and subject, so those three together with the sender tell
// the envelopes of one message apart from the next message's.
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
		sender, subject string
		created         int64
	}
	index := make(map[key]int, len(recs))
	var out []SentMessage
	for _, r := range recs {
		k := key{r.Sender, r.Subject, r.Created.UnixNano()}
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

// SentMessages lists what the signed-in sender sent as messages, newest first,
// from at most limit envelopes.
func (s *Service) SentMessages(ctx context.Context, caller Caller, limit int) ([]SentMessage, error) {
	recs, err := s.SentEnvelopes(ctx, caller, limit)
	if err != nil {
		return nil, err
	}
	return GroupSent(recs), nil
}
