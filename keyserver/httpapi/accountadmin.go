package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
)

// The administrators' account tools (keyserver/accountadmin.go), dashboard
// and audit search (keyserver/dashboard.go).
func (h *handlers) routeAdminTools(adm *echo.Group) {
	adm.GET("/stats", h.stats)
	adm.GET("/audit/search", h.auditSearch)
	adm.POST("/accounts/:id/end-sessions", h.endAccountSessions)
	adm.POST("/accounts/:id/disable", h.setAccountDisabled(true))
	adm.POST("/accounts/:id/enable", h.setAccountDisabled(false))
	adm.POST("/accounts/:id/remove-signin", h.removeSignInWay)
	adm.GET("/administrators", h.listAdministrators)
	adm.DELETE("/administrators/:id", h.removeAdministrator)
}

func (h *handlers) endAccountSessions(c echo.Context) error {
	n, err := h.s.EndAccountSessions(c.Request().Context(), caller(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int{"ended": n})
}

func (h *handlers) removeSignInWay(c echo.Context) error {
	var req struct {
		Way string `json:"way"` // password, passkeys
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	a, err := h.s.RemoveSignInWay(c.Request().Context(), caller(c), c.Param("id"), keyserver.SignInWay(req.Way))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewAccount(a, h.s.Now()))
}

func (h *handlers) listAdministrators(c echo.Context) error {
	accs, err := h.s.Administrators(c.Request().Context(), caller(c))
	if err != nil {
		return err
	}
	views := make([]api.AccountView, len(accs))
	for i, a := range accs {
		views[i] = viewAccount(a, h.s.Now())
	}
	return c.JSON(http.StatusOK, map[string]any{"administrators": views})
}

func (h *handlers) removeAdministrator(c echo.Context) error {
	a, err := h.s.RemoveAdministrator(c.Request().Context(), caller(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewAccount(a, h.s.Now()))
}

func (h *handlers) stats(c echo.Context) error {
	days := 14
	if v := c.QueryParam("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return keyserver.ErrBadRequest.With("refusal.days_number")
		}
		days = n
	}
	st, err := h.s.Stats(c.Request().Context(), caller(c), days)
	if err != nil {
		return err
	}
	out := api.Stats{OutboxDepth: st.OutboxDepth, Denials: st.Denials, StillQueued: st.StillQueued, Days: make([]api.DayStats, len(st.Days))}
	for i, d := range st.Days {
		out.Days[i] = api.DayStats(d)
	}
	return c.JSON(http.StatusOK, out)
}

func (h *handlers) auditSearch(c echo.Context) error {
	f := keyserver.AuditFilter{Action: keyserver.AuditAction(c.QueryParam("action")), Actor: c.QueryParam("actor"),
		Envelope: c.QueryParam("envelope"), Account: c.QueryParam("account")}
	if v := c.QueryParam("from"); v != "" {
		x, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return keyserver.ErrBadRequest.With("refusal.from_record")
		}
		f.From = x
	}
	if v := c.QueryParam("limit"); v != "" {
		x, err := strconv.Atoi(v)
		if err != nil || x < 0 {
			return keyserver.ErrBadRequest.With("refusal.limit_number")
		}
		f.Limit = x
	}
	for name, t := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := c.QueryParam(name); v != "" {
			parsed, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return keyserver.ErrBadRequest.With("refusal.want_time", "Name", name)
			}
			*t = parsed
		}
	}
	page, err := h.s.AuditSearch(c.Request().Context(), caller(c), f)
	if err != nil {
		return err
	}
	// Each record also in the reader's words (keyserver.SayAudit); the record
	// itself stays as it was written and chained.
	type saidRecord struct {
		keyserver.AuditRecord
		Said keyserver.AuditSaid `json:"said"`
	}
	out := struct {
		Records []saidRecord `json:"records"`
		Next    uint64       `json:"next,omitempty"`
	}{Records: make([]saidRecord, len(page.Records)), Next: page.Next}
	l := h.s.Locale(h.lang(c))
	for i, r := range page.Records {
		out.Records[i] = saidRecord{r, keyserver.SayAudit(l, r.AuditEvent)}
	}
	return c.JSON(http.StatusOK, out)
}

func (h *handlers) setAccountDisabled(disabled bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		a, err := h.s.SetAccountDisabled(c.Request().Context(), caller(c), c.Param("id"), disabled)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, viewAccount(a, h.s.Now()))
	}
}
