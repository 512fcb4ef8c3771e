package keyserver

import (
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"
)

// routeReplies adds the reply API (replies.go): the recipient's browser posts a
// sealed reply and lists its own; the gateway (its token) leases pending
// replies and reports each delivered or failed.
//
//	POST /api/v1/envelopes/{id}/replies?kind=reply|all|forward[&forward_to=ADDR]  body: the sealed reply (application/octet-stream)
//	GET  /api/v1/envelopes/{id}/replies
//	POST /api/v1/replies/lease        {"limit": N, "lease_seconds": S}
//	POST /api/v1/replies/{rid}/done   {"lease": L}
//	POST /api/v1/replies/{rid}/fail   {"lease": L, "reason": R}
func (h *handlers) routeReplies(api *echo.Group) {
	web := api.Group("", h.csrf)
	web.POST("/envelopes/:id/replies", h.postReply, h.bodyLimit(int64(maxReplyBody)), h.signedIn(false))
	web.GET("/envelopes/:id/replies", h.listReplies, h.signedIn(false))
	gw := api.Group("/replies", h.gatewayOnly, h.bodyLimit(maxAPIBody))
	gw.POST("/lease", h.leaseReplies)
	gw.POST("/:rid/done", h.finishReply(false))
	gw.POST("/:rid/fail", h.finishReply(true))
}

// replyView is a reply as the page and the sender see it: metadata only.
type replyView struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	ForwardTo string `json:"forward_to,omitempty"`
	Created   string `json:"created"`
	Size      int    `json:"size"`
	State     string `json:"state"` // pending, delivered, failed
	Reason    string `json:"reason,omitempty"`
}

func viewReply(r StoredReply) replyView {
	v := replyView{ID: r.ID, Kind: r.Kind, ForwardTo: r.ForwardTo, Created: r.Created.UTC().Format("2006-01-02T15:04:05Z"), Size: r.Size, State: "pending"}
	switch {
	case !r.Delivered.IsZero():
		v.State = "delivered"
	case !r.Failed.IsZero():
		v.State, v.Reason = "failed", r.Reason
	}
	return v
}

func (h *handlers) postReply(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	sealed, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return ErrReplyTooLarge
		}
		return ErrBadRequest.with("The reply could not be read.")
	}
	r, err := h.s.PostReply(c.Request().Context(), principal(c), id, c.QueryParam("kind"), c.QueryParam("forward_to"), sealed)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, viewReply(r))
}

func (h *handlers) listReplies(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	rs, err := h.s.Replies(c.Request().Context(), principal(c), id)
	if err != nil {
		return err
	}
	out := make([]replyView, len(rs))
	for i, r := range rs {
		out[i] = viewReply(r)
	}
	return c.JSON(http.StatusOK, map[string]any{"replies": out})
}

func (h *handlers) leaseReplies(c echo.Context) error {
	var req struct {
		Limit        int `json:"limit"`
		LeaseSeconds int `json:"lease_seconds"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	d := defaultLease
	if req.LeaseSeconds > 0 {
		d = durationSeconds(req.LeaseSeconds)
	}
	rs, err := h.s.LeaseReplies(c.Request().Context(), req.Limit, d)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"replies": rs})
}

func (h *handlers) finishReply(failed bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		var req struct {
			Lease  string `json:"lease"`
			Reason string `json:"reason"`
		}
		if err := bindJSON(c, &req); err != nil {
			return err
		}
		if failed && req.Reason == "" {
			return ErrBadRequest.with("A failed reply needs a reason.")
		}
		if !failed {
			req.Reason = ""
		}
		if err := h.s.FinishReply(c.Request().Context(), c.Param("rid"), req.Lease, req.Reason); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}
