package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
)

// routeOutbox adds the outbox API (gateway token) under api: a drainer leases
// the key server's mail, sends it, and reports each done or to retry (the
// leases are the service's: keyserver/outbox.go).
func (h *handlers) routeOutbox(g *echo.Group) {
	g = g.Group("/outbox", h.gatewayOnly, h.bodyLimit(maxAPIBody))
	g.POST("/lease", h.leaseMail)
	g.POST("/:id/done", h.mailDone)
	g.POST("/:id/retry", h.mailRetry)
	g.GET("/depth", h.outboxDepth)
}

func (h *handlers) leaseMail(c echo.Context) error {
	var req struct {
		Limit        int `json:"limit"`
		LeaseSeconds int `json:"lease_seconds"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	leased, d, err := h.s.LeaseMail(c.Request().Context(), caller(c), req.Limit, time.Duration(req.LeaseSeconds)*time.Second)
	if err != nil {
		return err
	}
	out := make([]api.LeasedMail, len(leased))
	for i, m := range leased {
		out[i] = api.LeasedMail{OutboxMail: api.OutboxMail(m.OutboxMail), Lease: m.Lease}
	}
	return c.JSON(http.StatusOK, map[string]any{"mails": out, "lease_seconds": int(d.Seconds())})
}

func mailID(c echo.Context) (uint64, error) {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil {
		return 0, keyserver.ErrBadRequest.With("refusal.mail_id")
	}
	return id, nil
}

func (h *handlers) mailDone(c echo.Context) error {
	var req struct {
		Lease string `json:"lease"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	id, err := mailID(c)
	if err != nil {
		return err
	}
	if err := h.s.MailDone(c.Request().Context(), caller(c), id, req.Lease); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *handlers) mailRetry(c echo.Context) error {
	var req struct {
		Lease       string    `json:"lease"`
		Attempts    int       `json:"attempts"`
		NextAttempt time.Time `json:"next_attempt"`
		LastError   string    `json:"last_error"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	id, err := mailID(c)
	if err != nil {
		return err
	}
	if err := h.s.MailRetry(c.Request().Context(), caller(c), id, req.Lease, req.Attempts, req.NextAttempt, req.LastError); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *handlers) outboxDepth(c echo.Context) error {
	n, err := h.s.OutboxDepth(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int{"depth": n})
}
