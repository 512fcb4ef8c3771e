package httpapi

import (
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
)

// FuzzParseCursor: any cursor is refused cleanly or parsed into one that
// formats back to the same position.
func FuzzParseCursor(f *testing.F) {
	f.Add(formatCursor(&keyserver.EnvelopeCursor{Created: time.Date(2026, 11, 22, 9, 0, 0, 7, time.UTC), ID: envelope.NewID()}))
	f.Add("2026-11-22T09:00:00Z~")
	f.Add("~0123")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		cur, err := parseCursor(s)
		if err != nil || cur == nil {
			return
		}
		again, err := parseCursor(formatCursor(cur))
		if err != nil {
			t.Fatalf("cursor %q formats to one refused: %v", s, err)
		}
		if !again.Created.Equal(cur.Created) || again.ID != cur.ID {
			t.Fatalf("cursor %q: %+v formats and parses back to %+v", s, cur, again)
		}
	})
}
