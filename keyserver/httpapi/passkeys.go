package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/waxseal/waxseal/keyserver"
)

// routePasskeys adds the passkey calls to the cookie-authenticated (web) group and
// the invite call to the admin group.
func (h *handlers) routePasskeys(web, adm *echo.Group) {
	web.POST("/signin/passkey/begin", h.passkeySignInBegin)
	web.POST("/signin/passkey/finish", h.passkeySignInFinish)
	// A setup session (just registered) may list and add passkeys: that is how
	// it finishes registering.
	web.GET("/account/passkeys", h.listPasskeys, h.signedIn(true))
	web.POST("/account/passkeys/begin", h.passkeyRegisterBegin, h.signedIn(true))
	web.POST("/account/passkeys/finish", h.passkeyRegisterFinish, h.signedIn(true))
	web.POST("/account/passkeys/:cred/rename", h.renamePasskey, h.signedIn(false))
	web.DELETE("/account/passkeys/:cred", h.removePasskey, h.signedIn(false))
	web.DELETE("/account/password", h.removePassword, h.signedIn(false))
	web.POST("/enrol/check", h.enrolCheck)
	web.POST("/enrol/begin", h.enrolBegin)
	web.POST("/enrol/finish", h.enrolFinish)
	adm.POST("/invites", h.inviteAdmin)
}

// ceremonyAnswer is the browser's side of a WebAuthn ceremony: the id it was
// given and the credential's toJSON().
type ceremonyAnswer struct {
	Ceremony   string          `json:"ceremony"`
	Credential json.RawMessage `json:"credential"`
	Name       string          `json:"name,omitempty"`
}

func bindAnswer(c echo.Context) (ceremonyAnswer, error) {
	var req ceremonyAnswer
	if err := bindJSON(c, &req); err != nil {
		return req, err
	}
	if req.Ceremony == "" || len(req.Credential) == 0 {
		return req, keyserver.ErrBadRequest.With("refusal.passkey_answer")
	}
	return req, nil
}

func (h *handlers) passkeySignInBegin(c echo.Context) error {
	start, err := h.s.BeginPasskeySignIn(c.Request().Context(), caller(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, start)
}

func (h *handlers) passkeySignInFinish(c echo.Context) error {
	req, err := bindAnswer(c)
	if err != nil {
		return err
	}
	si, err := h.s.FinishPasskeySignIn(c.Request().Context(), caller(c), req.Ceremony, req.Credential)
	if err != nil {
		return err
	}
	return h.signedInAnswer(c, si)
}

func (h *handlers) listPasskeys(c echo.Context) error {
	views, err := h.s.Passkeys(c.Request().Context(), caller(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"passkeys": views})
}

func (h *handlers) passkeyRegisterBegin(c echo.Context) error {
	start, err := h.s.BeginPasskeyRegistration(c.Request().Context(), caller(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, start)
}

func (h *handlers) passkeyRegisterFinish(c echo.Context) error {
	req, err := bindAnswer(c)
	if err != nil {
		return err
	}
	v, err := h.s.FinishPasskeyRegistration(c.Request().Context(), caller(c), req.Ceremony, req.Name, req.Credential)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, v)
}

func (h *handlers) renamePasskey(c echo.Context) error {
	var req struct {
		Name string `json:"name"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	v, err := h.s.RenamePasskey(c.Request().Context(), caller(c), c.Param("cred"), req.Name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (h *handlers) removePasskey(c echo.Context) error {
	if err := h.s.RemovePasskey(c.Request().Context(), caller(c), c.Param("cred")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *handlers) removePassword(c echo.Context) error {
	if err := h.s.RemovePassword(c.Request().Context(), caller(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type enrolRequest struct {
	Token     string `json:"token"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
}

// optionalCaller is the caller with the browser's session, or without one if it
// has none (or one that ended): the enrolment calls need no sign-in, but an
// enrolment into an existing account needs one to that account.
func (h *handlers) optionalCaller(c echo.Context) (keyserver.Caller, error) {
	ck, err := c.Cookie(h.cookieName())
	if err != nil || ck.Value == "" {
		return caller(c), nil
	}
	sess, acct, err := h.s.Authenticate(c.Request().Context(), ck.Value)
	if errors.Is(err, keyserver.ErrSignInRequired) {
		return caller(c), nil
	}
	if err != nil {
		return keyserver.Caller{}, err
	}
	return keyserver.SessionCaller(c.RealIP(), sess, acct), nil
}

func (h *handlers) enrolCheck(c echo.Context) error {
	var req enrolRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	who, err := h.optionalCaller(c)
	if err != nil {
		return err
	}
	info, err := h.s.CheckInvite(c.Request().Context(), who, req.Token)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, info)
}

func (h *handlers) enrolBegin(c echo.Context) error {
	var req enrolRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	who, err := h.optionalCaller(c)
	if err != nil {
		return err
	}
	start, err := h.s.BeginEnrolment(c.Request().Context(), who, req.Token, req.FirstName, req.LastName)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, start)
}

func (h *handlers) enrolFinish(c echo.Context) error {
	req, err := bindAnswer(c)
	if err != nil {
		return err
	}
	who, err := h.optionalCaller(c)
	if err != nil {
		return err
	}
	si, err := h.s.FinishEnrolment(c.Request().Context(), who, req.Ceremony, req.Name, req.Credential)
	if err != nil {
		return err
	}
	return h.signedInAnswer(c, si)
}

func (h *handlers) inviteAdmin(c echo.Context) error {
	var req struct {
		Email string `json:"email"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	link, expires, err := h.s.InviteAdmin(c.Request().Context(), caller(c), req.Email)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"link": link, "expires": expires})
}
