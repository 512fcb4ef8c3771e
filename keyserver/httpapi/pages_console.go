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
	Title  string
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
		"/account":              {Page: "account", Title: "Your account"},
		"/sent":                 {Page: "sent", Title: "Sent items"},
		"/admin":                {Page: "admin", Tab: "messages", Title: "Administration"},
		"/admin/accounts":       {Page: "admin", Tab: "accounts", Title: "Accounts"},
		"/admin/administrators": {Page: "admin", Tab: "admins", Title: "Administrators"},
		"/admin/audit":          {Page: "admin", Tab: "audit", Title: "Audit log"},
		"/admin/dashboard":      {Page: "admin", Tab: "dashboard", Title: "Dashboard"},
		"/admin/enrol":          {Page: "enrol", Title: "Administrator enrolment"},
	} {
		e.GET(path, func(c echo.Context) error { return h.render(c, http.StatusOK, "console.html", p) })
	}
	e.GET("/admin/envelopes/:id", func(c echo.Context) error {
		id, err := envelope.ParseID(c.Param("id"))
		if err != nil {
			return h.render(c, http.StatusNotFound, "home.html", map[string]any{
				"Title": "No such message", "Paragraphs": []string{"This address does not name a secure message."}})
		}
		return h.render(c, http.StatusOK, "console.html", consolePage{Page: "admin", Tab: "envelope", Title: "Message", ID: id.String()})
	})
}
