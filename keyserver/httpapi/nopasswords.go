package httpapi

import (
	"github.com/labstack/echo/v4"

	"github.com/waxseal/waxseal/keyserver"
)

// errorSentence is e's sentence in the request's language. A server without
// passwords (Config.NoPasswords, the Worker) says a refusal whose usual
// sentence offers a password ("create a passkey or choose a password") in the
// catalog's wording for it, error.CODE_nopw, where there is one.
func (h *handlers) errorSentence(c echo.Context, e *keyserver.Error) string {
	l := h.s.Locale(h.lang(c))
	if key := h.noPasswordKey(e); key != "" {
		return l.T(key)
	}
	return e.Text(l)
}

// noPasswordKey is the catalog id of e's sentence on a server without
// passwords, or "" when it has none or the server uses passwords.
func (h *handlers) noPasswordKey(e *keyserver.Error) string {
	if !h.cfg.NoPasswords || e.Said() != nil {
		return ""
	}
	key := e.MessageKey()
	if key == "" {
		return ""
	}
	// T says an id it does not know as the id itself.
	if alt := key + "_nopw"; h.s.Locale("").T(alt) != alt {
		return alt
	}
	return ""
}
