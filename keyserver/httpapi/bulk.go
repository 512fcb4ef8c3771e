package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
	"github.com/waxseal/waxseal/keyserver/api"
)

// bulkChange revokes or locks one page of envelopes (POST
// /api/v1/admin/envelopes/bulk); the client pages on with the cursor returned.
func (h *handlers) bulkChange(c echo.Context) error {
	var req api.BulkRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	after, err := parseCursor(req.Cursor)
	if err != nil {
		return err
	}
	res, err := h.s.BulkChange(c.Request().Context(), caller(c), keyserver.BulkRequest{
		Action: keyserver.BulkAction(req.Action), Sender: req.Sender, Recipient: req.Recipient,
		Since: req.Since, Until: req.Until, Reason: req.Reason, DryRun: req.DryRun,
		After: after, Limit: req.Limit,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.BulkResult{Matched: res.Matched, Changed: res.Changed, Next: formatCursor(res.Next)})
}

// A cursor is the position of the last envelope of a page: its creation time
// (RFC 3339, to the nanosecond) and id, joined by "~". Not secret, not signed:
// a forged one only starts a listing elsewhere.
func formatCursor(cur *keyserver.EnvelopeCursor) string {
	if cur == nil {
		return ""
	}
	return cur.Created.UTC().Format(time.RFC3339Nano) + "~" + cur.ID.String()
}

func parseCursor(s string) (*keyserver.EnvelopeCursor, error) {
	if s == "" {
		return nil, nil
	}
	bad := keyserver.ErrBadRequest.With("refusal.cursor")
	t, id, ok := strings.Cut(s, "~")
	if !ok {
		return nil, bad
	}
	created, err := time.Parse(time.RFC3339Nano, t)
	if err != nil {
		return nil, bad
	}
	eid, err := envelope.ParseID(id)
	if err != nil {
		return nil, bad
	}
	return &keyserver.EnvelopeCursor{Created: created, ID: eid}, nil
}
