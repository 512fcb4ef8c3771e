package httpapi

import (
	"time"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
)

// viewSent answers GET /api/v1/sent: the messages, and the same envelopes as a
// flat list for clients written before messages were grouped.
func viewSent(msgs []keyserver.SentMessage, now time.Time) map[string]any {
	views := make([]api.SentMessage, len(msgs))
	flat := []api.EnvelopeView{}
	for i, m := range msgs {
		v := api.SentMessage{Subject: m.Subject, Created: m.Created, Recipients: make([]api.EnvelopeView, len(m.Envelopes))}
		for j, r := range m.Envelopes {
			v.Recipients[j] = ViewEnvelope(r, now)
		}
		flat = append(flat, v.Recipients...)
		views[i] = v
	}
	return map[string]any{"messages": views, "envelopes": flat}
}
