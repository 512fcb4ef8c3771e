package server

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/waxseal/waxseal/keyserver/mailer"
	"github.com/waxseal/waxseal/server/spool"
)

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func spoolEntry(to string) spool.Entry {
	return spool.Entry{From: "alice@hospital.example", To: []string{to}, Kind: kindOriginal, Created: time.Now()}
}

func newTestDrainer(ob *RemoteOutbox, g *Gateway) *mailer.Drainer {
	return mailer.NewDrainer(ob, g.OutboxSender(), mailer.DrainerConfig{Logger: slog.New(slog.DiscardHandler)})
}
