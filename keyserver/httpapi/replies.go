package httpapi

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/waxseal/waxseal/envelope/reply"
	"github.com/waxseal/waxseal/envelope/reply/compose"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
)

// routeReplies adds the reply API (keyserver/replies.go): the recipient's
// browser posts a sealed reply and lists its own; the gateway (its token)
// leases pending replies and reports each delivered or failed.
//
//	POST /api/v1/envelopes/{id}/replies?kind=reply|all|forward[&forward_to=ADDR]
//	     body: the sealed reply (application/octet-stream), or multipart/form-data
//	     with the parts "reply" and "copy_key" (for the recipient's copy)
//	GET  /api/v1/envelopes/{id}/replies
//	GET  /api/v1/envelopes/{id}/replies/{rid}/copy
//	POST /api/v1/replies/lease        {"limit": N, "lease_seconds": S}
//	POST /api/v1/replies/{rid}/done   {"lease": L}
//	POST /api/v1/replies/{rid}/fail   {"lease": L, "reason": R}
//	POST /api/v1/replies/report       {"reports": [{"id", "lease", "reason"}]}
func (h *handlers) routeReplies(v1 *echo.Group) {
	web := v1.Group("", h.csrf)
	web.POST("/envelopes/:id/replies", h.postReply, h.bodyLimit(int64(reply.MaxSealed+compose.WrapSize+64<<10)), h.signedIn(false))
	web.GET("/envelopes/:id/replies", h.listReplies, h.signedIn(false))
	web.GET("/envelopes/:id/replies/:rid/copy", h.replyCopy, h.signedIn(false))
	gw := v1.Group("/replies", h.gatewayOnly, h.bodyLimit(maxAPIBody))
	gw.POST("/lease", h.leaseReplies)
	gw.POST("/report", h.reportReplies)
	gw.POST("/:rid/done", h.finishReply(false))
	gw.POST("/:rid/fail", h.finishReply(true))
}

func viewReply(r keyserver.StoredReply) api.ReplyView {
	v := api.ReplyView{ID: r.ID, Kind: r.Kind, From: r.From, Name: r.Name, ForwardTo: r.ForwardTo, Created: r.Created.UTC().Format("2006-01-02T15:04:05Z"), Size: r.Size, State: "pending",
		HasCopy: len(r.CopyKey) > 0}
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
	sealed, copyKey, err := readReplyBody(c.Request())
	if err != nil {
		return err
	}
	r, err := h.s.PostReply(c.Request().Context(), caller(c), id, c.QueryParam("kind"), c.QueryParam("forward_to"), sealed, copyKey)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, viewReply(r))
}

// readReplyBody reads a posted reply: the sealed reply alone, or the parts
// "reply" and "copy_key" of a multipart/form-data body, each within its limit.
func readReplyBody(req *http.Request) (sealed, copyKey []byte, err error) {
	readErr := func(err error) error {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return keyserver.ErrReplyTooLarge
		}
		return keyserver.ErrBadRequest.With("refusal.reply_unreadable")
	}
	mt, params, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		sealed, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, nil, readErr(err)
		}
		return sealed, nil, nil
	}
	mr := multipart.NewReader(req.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, readErr(err)
		}
		var dst *[]byte
		max := int64(reply.MaxSealed)
		switch p.FormName() {
		case "reply":
			dst = &sealed
		case "copy_key":
			dst, max = &copyKey, int64(compose.WrapSize)
		default:
			return nil, nil, keyserver.ErrBadRequest.With("refusal.reply_unknown_part", "Part", fmt.Sprintf("%q", p.FormName()))
		}
		if *dst != nil {
			return nil, nil, keyserver.ErrBadRequest.With("refusal.reply_part_twice", "Part", fmt.Sprintf("%q", p.FormName()))
		}
		b, err := io.ReadAll(io.LimitReader(p, max+1))
		if err != nil {
			return nil, nil, readErr(err)
		}
		if int64(len(b)) > max {
			return nil, nil, keyserver.ErrReplyTooLarge
		}
		*dst = b
	}
	if sealed == nil {
		return nil, nil, keyserver.ErrNotAReply
	}
	return sealed, copyKey, nil
}

func (h *handlers) replyCopy(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	b, err := h.s.ReplyCopy(c.Request().Context(), caller(c), id, c.Param("rid"))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "application/octet-stream", b)
}

func (h *handlers) listReplies(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	rs, err := h.s.Replies(c.Request().Context(), caller(c), id)
	if err != nil {
		return err
	}
	out := make([]api.ReplyView, len(rs))
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
	rs, err := h.s.LeaseReplies(c.Request().Context(), caller(c), req.Limit, time.Duration(req.LeaseSeconds)*time.Second)
	if err != nil {
		return err
	}
	out := make([]api.LeasedReply, len(rs))
	for i, r := range rs {
		out[i] = api.LeasedReply{ID: r.ID, Lease: r.Lease, Envelope: r.Envelope.String(), Kind: r.Kind, ForwardTo: r.ForwardTo,
			From: r.From, Name: r.Name, OriginalSender: r.OriginalSender, OriginalSubject: r.OriginalSubject, Context: r.Context, Sealed: r.Sealed}
	}
	return c.JSON(http.StatusOK, map[string]any{"replies": out})
}

// reportReplies takes a batch's reports in one request: 200 {"lost": [ids]}.
func (h *handlers) reportReplies(c echo.Context) error {
	var req struct {
		Reports []keyserver.ReplyReport `json:"reports"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	lost, err := h.s.ReportReplies(c.Request().Context(), caller(c), req.Reports)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"lost": lost})
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
			return keyserver.ErrBadRequest.With("refusal.reply_failed_reason")
		}
		if !failed {
			req.Reason = ""
		}
		if err := h.s.FinishReply(c.Request().Context(), caller(c), c.Param("rid"), req.Lease, req.Reason); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}

// pageReply is what the message page needs to offer secure replies.
type pageReply struct {
	PublicKey string
	Forward   string // none, organisation or any
}

func (h *handlers) replyPage() *pageReply {
	cfg := h.s.Config()
	if cfg.ReplyPublicKey == "" {
		return nil
	}
	f := cfg.ReplyForward
	if f == "" {
		f = "organisation"
	}
	return &pageReply{PublicKey: cfg.ReplyPublicKey, Forward: f}
}
