package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/waxseal/waxseal/envelope"
)

// consolePage is a page for signed-in people (console.html): a shell that
// console.js fills from the API, so it holds nothing about anyone.
type consolePage struct {
	Page   string // account, sent, admin, enrol
	Tab    string // of the admin page: messages, envelope, accounts, admins, audit, dashboard
	Title  string // a catalog id
	ID     string // the envelope an admin page shows
	Limits pageLimits
	Back   string // the path the language switcher returns to
}

// routeConsole adds the pages beyond the open page: the account (passkeys and
// password), a sender's sent items, administration (messages, one message,
// accounts, administrators, the audit log, the dashboard) and administrator
// enrolment.
func (h *handlers) routeConsole(e *echo.Echo) {
	for path, p := range map[string]consolePage{
		"/account":              {Page: "account", Title: "console.title_account"},
		"/sent":                 {Page: "sent", Title: "console.title_sent"},
		"/admin":                {Page: "admin", Tab: "messages", Title: "console.title_admin"},
		"/admin/accounts":       {Page: "admin", Tab: "accounts", Title: "console.title_accounts"},
		"/admin/administrators": {Page: "admin", Tab: "admins", Title: "console.title_admins"},
		"/admin/audit":          {Page: "admin", Tab: "audit", Title: "console.title_audit"},
		"/admin/dashboard":      {Page: "admin", Tab: "dashboard", Title: "console.title_dashboard"},
		"/admin/enrol":          {Page: "enrol", Title: "console.title_enrol"},
	} {
		e.GET(path, func(c echo.Context) error { return h.render(c, http.StatusOK, "console.html", p) })
	}
	e.GET("/admin/envelopes/:id", func(c echo.Context) error {
		id, err := envelope.ParseID(c.Param("id"))
		if err != nil {
			return h.render(c, http.StatusNotFound, "home.html", textPage("console.no_such_message", "console.no_such_message_p"))
		}
		return h.render(c, http.StatusOK, "console.html", consolePage{Page: "admin", Tab: "envelope", Title: "console.title_message", ID: id.String()})
	})
}
