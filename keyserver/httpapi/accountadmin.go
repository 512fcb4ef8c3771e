package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
)

// The administrators' account tools (keyserver/accountadmin.go).
func (h *handlers) routeAccountAdmin(adm *echo.Group) {
	adm.POST("/accounts/:id/end-sessions", h.endAccountSessions)
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
