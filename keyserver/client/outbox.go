package client

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/waxseal/waxseal/keyserver/api"
)

// LeaseMail leases up to limit due outbox mails for lease (gateway token). Report
// each with MailDone or MailRetry before the lease ends.
func (c *Client) LeaseMail(ctx context.Context, limit int, lease time.Duration) ([]api.LeasedMail, error) {
	var out struct {
		Mails []api.LeasedMail `json:"mails"`
	}
	err := c.do(ctx, http.MethodPost, "/api/v1/outbox/lease",
		map[string]int{"limit": limit, "lease_seconds": int(lease.Seconds())}, &out)
	return out.Mails, err
}

// MailDone reports a leased mail sent (or given up): the key server deletes it.
func (c *Client) MailDone(ctx context.Context, id uint64, lease string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/outbox/"+strconv.FormatUint(id, 10)+"/done", map[string]string{"lease": lease}, nil)
}

// MailRetry reports a failed attempt: the mail is due again at next.
func (c *Client) MailRetry(ctx context.Context, id uint64, lease string, attempts int, next time.Time, lastError string) error {
	body := map[string]any{"lease": lease, "attempts": attempts, "next_attempt": next, "last_error": lastError}
	return c.do(ctx, http.MethodPost, "/api/v1/outbox/"+strconv.FormatUint(id, 10)+"/retry", body, nil)
}

// OutboxDepth counts the mails waiting in the key server's outbox.
func (c *Client) OutboxDepth(ctx context.Context) (int, error) {
	var out struct {
		Depth int `json:"depth"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/outbox/depth", nil, &out)
	return out.Depth, err
}
