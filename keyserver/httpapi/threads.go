package httpapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/waxseal/waxseal/keyserver/api"
)

// routeThreads adds the thread API (gateway token) under v1.
func (h *handlers) routeThreads(v1 *echo.Group) {
	g := v1.Group("/threads", h.gatewayOnly, h.bodyLimit(maxAPIBody))
	g.POST("", func(c echo.Context) error {
		var req api.ThreadRequest
		if err := bindJSON(c, &req); err != nil {
			return err
		}
		if err := h.s.RememberThread(c.Request().Context(), caller(c), req.MessageIDs, time.Duration(req.TTLSeconds)*time.Second); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	})
	g.POST("/lookup", func(c echo.Context) error {
		var req api.ThreadRequest
		if err := bindJSON(c, &req); err != nil {
			return err
		}
		ok, err := h.s.ThreadSealed(c.Request().Context(), caller(c), req.MessageIDs)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]bool{"sealed": ok})
	})
}
