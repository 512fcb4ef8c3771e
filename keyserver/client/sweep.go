package client

import (
	"context"
	"net/http"

	"github.com/waxseal/waxseal/keyserver/api"
)

// SweepDue counts the envelopes due for expiry (administrators).
func (c *Client) SweepDue(ctx context.Context) (int, error) {
	var out api.SweepDue
	err := c.do(ctx, http.MethodGet, "/api/v1/admin/sweep", nil, &out)
	return out.Due, err
}

// Sweep expires up to limit due envelopes now (administrators); call again
// while the result's More is set.
func (c *Client) Sweep(ctx context.Context, limit int) (api.SweepResult, error) {
	var out api.SweepResult
	err := c.do(ctx, http.MethodPost, "/api/v1/admin/sweep", api.SweepRequest{Limit: limit}, &out)
	return out, err
}
