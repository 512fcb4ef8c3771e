package sqltext

import (
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
	"github.com/waxseal/waxseal/keyserver"
)

func TestUpsert(t *testing.T) {
	for _, c := range []struct {
		table, conflict string
		cols            []string
		expect          string
	}{
		{"sessions", "token_hash", []string{"token_hash", "account_id", "last_seen", "data"},
			"INSERT INTO sessions (token_hash, account_id, last_seen, data) VALUES (?, ?, ?, ?) ON CONFLICT (token_hash) DO UPDATE SET account_id = excluded.account_id, last_seen = excluded.last_seen, data = excluded.data"},
		{"codes", "email, purpose", []string{"email", "purpose", "expires", "data"},
			"INSERT INTO codes (email, purpose, expires, data) VALUES (?, ?, ?, ?) ON CONFLICT (email, purpose) DO UPDATE SET expires = excluded.expires, data = excluded.data"},
	} {
		if got := Upsert(c.table, c.conflict, c.cols...); got != c.expect {
			t.Errorf("Upsert(%s, %s):\n got    %s\n expect %s", c.table, c.conflict, got, c.expect)
		}
	}
}

func TestListEnvelopes(t *testing.T) {
	at := time.Date(2026, 12, 6, 9, 30, 0, 5, time.FixedZone("CET", 3600))
	id := envelope.ID{0xab, 0xcd}
	hx := func(b []byte) any { return hex.EncodeToString(b) }
	for _, c := range []struct {
		q          keyserver.EnvelopeQuery
		expect     string
		expectArgs string
	}{
		{keyserver.EnvelopeQuery{}, "SELECT data FROM envelopes ORDER BY created DESC, id DESC", "[]"},
		{keyserver.EnvelopeQuery{Sender: "a@h.example", Recipient: "b@p.example", Since: at, Until: at.Add(time.Hour), After: &keyserver.EnvelopeCursor{Created: at, ID: id}, Limit: 100},
			"SELECT data FROM envelopes WHERE sender = ? AND recipient = ? AND created >= ? AND created < ? AND (created < ? OR (created = ? AND id < ?)) ORDER BY created DESC, id DESC LIMIT 100",
			"[a@h.example b@p.example 2026-12-06T08:30:00.000000005Z 2026-12-06T09:30:00.000000005Z 2026-12-06T08:30:00.000000005Z 2026-12-06T08:30:00.000000005Z abcd0000000000000000000000000000]"},
	} {
		got, args := ListEnvelopes(c.q, hx)
		if got != c.expect || fmt.Sprint(args) != c.expectArgs {
			t.Errorf("ListEnvelopes(%+v):\n got    %s %v\n expect %s %s", c.q, got, args, c.expect, c.expectArgs)
		}
	}
}
