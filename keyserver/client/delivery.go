package client

import (
	"context"
	"net/http"

	"github.com/waxseal/waxseal/keyserver/api"
)

// ReportDeliveries tells the key server what the next hop did with envelopes'
// wrapper mails (gateway token); at most 1000 reports a call.
func (c *Client) ReportDeliveries(ctx context.Context, reports []api.DeliveryReport) (api.DeliveryResult, error) {
	var out api.DeliveryResult
	err := c.do(ctx, http.MethodPost, "/api/v1/deliveries", api.DeliveryRequest{Deliveries: reports}, &out)
	return out, err
}
