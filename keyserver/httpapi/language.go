package httpapi

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
)

// langCookie remembers the language chosen with the switcher (POST /language)
// of a visitor who is not signed in; once they sign in it is saved on the
// account.
const langCookie = "waxseal_lang"

// lang is the language of the request's answer: the signed-in account's saved
// language, then the switcher's cookie, then Accept-Language, then the
// organisation's default.
func (h *handlers) lang(c echo.Context) string {
	if v, ok := c.Get("lang").(string); ok {
		return v
	}
	code := ""
	if a := h.account(c); a != nil {
		code = h.s.Locales().Supported(a.Language)
	}
	if code == "" {
		code = h.anonLang(c)
	}
	c.Set("lang", code)
	return code
}

// account is the request's signed-in account, or nil: the caller the
// middleware found, or the session cookie's (pages have no middleware).
func (h *handlers) account(c echo.Context) *keyserver.Account {
	if p, ok := c.Get("caller").(keyserver.Caller); ok && p.Account != nil {
		return p.Account
	}
	ck, err := c.Cookie(h.cookieName())
	if err != nil || ck.Value == "" {
		return nil
	}
	_, a, err := h.s.Authenticate(c.Request().Context(), ck.Value)
	if err != nil {
		return nil
	}
	return a
}

// anonLang is lang without an account: cookie, Accept-Language, default.
func (h *handlers) anonLang(c echo.Context) string {
	cat := h.s.Locales()
	if ck, err := c.Cookie(langCookie); err == nil {
		if code := cat.Supported(ck.Value); code != "" {
			return code
		}
	}
	if code := cat.FromAcceptLanguage(c.Request().Header.Get("Accept-Language")); code != "" {
		return code
	}
	return h.cfg.DefaultLanguage
}

// withLanguage gives the Service the language of the page asking (for a code
// mailed before there is an account, and an account's first language).
func (h *handlers) withLanguage(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		c.SetRequest(r.WithContext(keyserver.WithLanguage(r.Context(), h.anonLang(c))))
		return next(c)
	}
}

// setLanguage is the switcher's form: it remembers the language in a cookie,
// saves it on the signed-in account, and goes back to the page it came from.
func (h *handlers) setLanguage(c echo.Context) error {
	if !h.sameOriginForm(c.Request()) {
		return keyserver.ErrForbidden
	}
	code := h.s.Locales().Supported(c.FormValue("lang"))
	if code == "" {
		return keyserver.ErrBadRequest
	}
	h.rememberLanguage(c, code)
	if a := h.account(c); a != nil {
		if err := h.s.SetLanguage(c.Request().Context(), a.ID, code); err != nil {
			return err
		}
	}
	return c.Redirect(http.StatusSeeOther, localPath(c.FormValue("back")))
}

// sameOriginForm reports whether a plain form post (no CSRF header) comes from
// one of this server's pages. The pages say Referrer-Policy: no-referrer, so a
// browser sends "Origin: null" with their forms; Sec-Fetch-Site then tells
// where the post came from. A request without either (not a browser) passes,
// as the API's check lets it.
func (h *handlers) sameOriginForm(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin"
	}
	o := r.Header.Get("Origin")
	return o == "" || o == h.cfg.PublicURL
}

func (h *handlers) rememberLanguage(c echo.Context, code string) {
	c.SetCookie(&http.Cookie{Name: langCookie, Value: code, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
}

// saveChosenLanguage, after a sign-in, keeps on the account the language the
// visitor chose with the switcher before, or the one they read in when the
// account has none yet.
func (h *handlers) saveChosenLanguage(c echo.Context, a *keyserver.Account) {
	if a == nil {
		return
	}
	code := ""
	if ck, err := c.Cookie(langCookie); err == nil {
		code = h.s.Locales().Supported(ck.Value)
	}
	if code == "" && a.Language == "" {
		code = h.anonLang(c)
	}
	if code == "" || code == a.Language {
		return
	}
	if err := h.s.SetLanguage(c.Request().Context(), a.ID, code); err != nil {
		h.s.Logger().WarnContext(c.Request().Context(), "language not saved", "err", err)
		return
	}
	a.Language = code
}

// localPath is p when it is a path on this server, else "/": the switcher's
// way back must not lead elsewhere.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return "/"
	}
	return p
}

// backPath is the path a page's switcher comes back to: the request's own.
func backPath(c echo.Context) string {
	return localPath(c.Request().URL.RequestURI())
}

// savedLanguages answers the gateway's question: in which language to write
// to each of a message's recipients (their saved one; absent: the default).
func (h *handlers) savedLanguages(c echo.Context) error {
	var req api.LanguagesRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	langs, err := h.s.SavedLanguages(c.Request().Context(), caller(c), req.Addresses)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.LanguagesResponse{Languages: langs})
}
