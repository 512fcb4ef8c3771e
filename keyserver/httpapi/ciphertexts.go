package httpapi

import (
	"encoding/hex"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/waxseal/waxseal/keyserver"
)

// parseSum reads a SHA-256 in lowercase hex.
func parseSum(s string) ([32]byte, error) {
	var sum [32]byte
	if len(s) != 64 {
		return sum, fmt.Errorf("%.80q is not a SHA-256 in hex", s)
	}
	if _, err := hex.Decode(sum[:], []byte(s)); err != nil {
		return sum, fmt.Errorf("%.80q is not a SHA-256 in hex", s)
	}
	return sum, nil
}

func (h *handlers) putCiphertext(c echo.Context) error {
	sum, err := parseSum(c.Param("sha256"))
	if err != nil {
		return keyserver.ErrBadRequest.With("refusal.path", "Detail", err)
	}
	req := c.Request()
	// Bounded here too, so a client that does not announce a length cannot send
	// more than the limit before being cut off.
	req.Body = http.MaxBytesReader(c.Response(), req.Body, h.cfg.MaxPayloadBytes)
	if err := h.s.PutCiphertext(req.Context(), caller(c), sum, req.Body, req.ContentLength); err != nil {
		return err
	}
	// Accepted: the store may write it with the registration that follows (see
	// Store.PutCiphertext), which is where a failure to store it shows.
	return c.JSON(http.StatusAccepted, map[string]string{"sha256": hex.EncodeToString(sum[:])})
}
