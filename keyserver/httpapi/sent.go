package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
)

// sentPage answers GET /api/v1/sent[?recipient=A][&state=S][&subject=WORDS]
// [&since=T][&until=T][&limit=N][&after=CURSOR].
func (h *handlers) sentPage(c echo.Context) error {
	q := keyserver.SentQuery{Recipient: c.QueryParam("recipient"), State: c.QueryParam("state"), Subject: c.QueryParam("subject")}
	for name, t := range map[string]*time.Time{"since": &q.Since, "until": &q.Until} {
		if v := c.QueryParam(name); v != "" {
			parsed, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return keyserver.ErrBadRequest.With("refusal.want_time", "Name", name)
			}
			*t = parsed
		}
	}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return keyserver.ErrBadRequest.With("refusal.limit_positive")
		}
		q.Limit = n
	}
	after, err := parseCursor(c.QueryParam("after"))
	if err != nil {
		return err
	}
	q.After = after
	msgs, next, err := h.s.SentMessages(c.Request().Context(), caller(c), q)
	if err != nil {
		return err
	}
	var recs []keyserver.EnvelopeRecord
	for _, m := range msgs {
		recs = append(recs, m.Envelopes...)
	}
	rs, err := h.s.SentReplies(c.Request().Context(), caller(c), recs)
	if err != nil {
		return err
	}
	out := viewSent(msgs, h.s.Now())
	out["replies"] = viewSentReplies(rs)
	if next != nil {
		out["next"] = formatCursor(next)
	}
	return c.JSON(http.StatusOK, out)
}

// viewSentReplies lists the replies to the sent envelopes by envelope id
// (metadata only; envelopes without replies are not listed).
func viewSentReplies(rs map[envelope.ID][]keyserver.StoredReply) map[string][]api.ReplyView {
	out := make(map[string][]api.ReplyView, len(rs))
	for id, list := range rs {
		vs := make([]api.ReplyView, len(list))
		for i, r := range list {
			vs[i] = viewReply(r)
		}
		out[id.String()] = vs
	}
	return out
}

// viewSent answers GET /api/v1/sent: the messages, and the same envelopes as a
// flat list for clients written before messages were grouped.
func viewSent(msgs []keyserver.SentMessage, now time.Time) map[string]any {
	views := make([]api.SentMessage, len(msgs))
	flat := []api.EnvelopeView{}
	for i, m := range msgs {
		v := api.SentMessage{Subject: m.Subject, Created: m.Created, Recipients: make([]api.EnvelopeView, len(m.Envelopes))}
		for j, r := range m.Envelopes {
			v.Recipients[j] = ViewEnvelope(r, now)
			if v.Attachments == nil {
				v.Attachments = r.Attachments
			}
		}
		flat = append(flat, v.Recipients...)
		views[i] = v
	}
	return map[string]any{"messages": views, "envelopes": flat}
}
