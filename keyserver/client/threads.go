package client

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/waxseal/waxseal/keyserver/api"
)

// RememberThread tells the key server the Message-IDs of a sealed message, to
// be remembered for ttl (0: the key server's default) so that replies to it are
// sealed too (gateway token). At most api.MaxThreadIDs ids.
func (c *Client) RememberThread(ctx context.Context, ids []string, ttl time.Duration) error {
	return c.do(ctx, http.MethodPost, "/api/v1/threads", api.ThreadRequest{MessageIDs: ids, TTLSeconds: int64(ttl / time.Second)}, nil)
}

// ThreadSealed asks whether any of ids is the Message-ID of a sealed message
// (gateway token). At most api.MaxThreadIDs ids.
func (c *Client) ThreadSealed(ctx context.Context, ids []string) (bool, error) {
	var out struct {
		Sealed bool `json:"sealed"`
	}
	err := c.do(ctx, http.MethodPost, "/api/v1/threads/lookup", api.ThreadRequest{MessageIDs: ids}, &out)
	return out.Sealed, err
}

// SavedLanguages returns the saved language of each of addrs that has one
// (gateway token), keyed by the address as given; asked in chunks of
// api.MaxLanguageAddresses.
func (c *Client) SavedLanguages(ctx context.Context, addrs []string) (map[string]string, error) {
	out := make(map[string]string, len(addrs))
	for len(addrs) > 0 {
		n := min(len(addrs), api.MaxLanguageAddresses)
		var resp api.LanguagesResponse
		if err := c.do(ctx, http.MethodPost, "/api/v1/languages", api.LanguagesRequest{Addresses: addrs[:n]}, &resp); err != nil {
			return nil, fmt.Errorf("saved languages: %w", err)
		}
		for a, code := range resp.Languages {
			out[a] = code
		}
		addrs = addrs[n:]
	}
	return out, nil
}
