package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/waxseal/waxseal/keyserver/api"
)

// envelopeStatus is GET /api/v1/envelopes/{id}/status: what the open page needs
// before it asks anyone to register or sign in (keyserver.Service.EnvelopeStatus).
func (h *handlers) envelopeStatus(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	st, err := h.s.EnvelopeStatus(c.Request().Context(), id)
	if err != nil {
		return err
	}
	a := api.EnvelopeStatus{State: api.EnvelopeOpen, Expires: st.Expires, RecipientHasAccount: st.RecipientHasAccount}
	if st.Refusal != nil {
		a.State, a.Message = st.Refusal.Code, h.errorSentence(c, st.Refusal)
	}
	return c.JSON(http.StatusOK, a)
}
