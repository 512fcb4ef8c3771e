package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/waxseal/waxseal/keyserver/api"
)

// routeSweep adds the expiry sweep run by hand under the admin group.
func (h *handlers) routeSweep(adm *echo.Group) {
	adm.GET("/sweep", func(c echo.Context) error {
		n, err := h.s.ExpiryDue(c.Request().Context(), caller(c))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, api.SweepDue{Due: n})
	})
	adm.POST("/sweep", func(c echo.Context) error {
		var req api.SweepRequest
		if err := bindJSON(c, &req); err != nil {
			return err
		}
		n, more, err := h.s.SweepExpired(c.Request().Context(), caller(c), req.Limit)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, api.SweepResult{Expired: n, More: more})
	})
}
