package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/waxseal/waxseal/keyserver"
)

// LeaseReplies leases up to limit pending secure replies for lease (gateway
// token): one round trip per batch. Report each with ReplyDone or ReplyFailed
// before the lease ends.
func (c *Client) LeaseReplies(ctx context.Context, limit int, lease time.Duration) ([]keyserver.LeasedReply, error) {
	var out struct {
		Replies []keyserver.LeasedReply `json:"replies"`
	}
	err := c.do(ctx, http.MethodPost, "/api/v1/replies/lease",
		map[string]int{"limit": limit, "lease_seconds": int(lease.Seconds())}, &out)
	return out.Replies, err
}

// ReplyDone reports a leased reply delivered: the key server drops its ciphertext.
func (c *Client) ReplyDone(ctx context.Context, id, lease string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/replies/"+url.PathEscape(id)+"/done", map[string]string{"lease": lease}, nil)
}

// ReplyFailed reports a leased reply that can never be delivered, and why.
func (c *Client) ReplyFailed(ctx context.Context, id, lease, reason string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/replies/"+url.PathEscape(id)+"/fail", map[string]string{"lease": lease, "reason": reason}, nil)
}

// ReportReplies reports a leased batch, delivered (Reason "") or given up, in
// one round trip, and returns the ids whose lease was lost.
func (c *Client) ReportReplies(ctx context.Context, reports []keyserver.ReplyReport) ([]string, error) {
	var out struct {
		Lost []string `json:"lost"`
	}
	err := c.do(ctx, http.MethodPost, "/api/v1/replies/report", map[string]any{"reports": reports}, &out)
	return out.Lost, err
}
