package keyserver

import (
	"fmt"
	"testing"
	"time"

	"github.com/waxseal/waxseal/envelope"
)

// TestPostedHoldIsFair: the hold never holds more than its bytes (counted as
// the blobs' capacity); a flood from many clients is not held once the hold is
// full rather than evict anyone; a flood from one client evicts its own; a
// client that posted less than another may evict the other's.
func TestPostedHoldIsFair(t *testing.T) {
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	p := newPostedHold(4<<20, time.Hour, func() time.Time { return now })
	check := func(what string) {
		t.Helper()
		if p.used > p.max || len(p.items) != len(p.order) || len(p.items) > 4 {
			t.Fatalf("%s: %d bytes in %d items (%d in order)", what, p.used, len(p.items), len(p.order))
		}
	}
	mine := p.put(envelope.ID{1}, "recipient", make([]byte, 1<<20))
	held := 0
	for i := range 30 {
		if p.put(envelope.ID{2}, fmt.Sprintf("sybil-%d", i), make([]byte, 1<<20)) != "" {
			held++
		}
		check("sybils")
	}
	if held != 3 {
		t.Errorf("%d of 30 sybils held, want the 3 that fit", held)
	}
	if _, ok := p.get(envelope.ID{1}, mine); !ok {
		t.Fatal("a flood from many clients evicted the recipient's envelope")
	}
	// A small blob in a large buffer counts as the buffer.
	if p.put(envelope.ID{3}, "other", make([]byte, 10, 1<<20)) != "" {
		t.Error("a 1 MB buffer was held in a full hold")
	}

	q := newPostedHold(4<<20, time.Hour, func() time.Time { return now })
	mine = q.put(envelope.ID{1}, "recipient", make([]byte, 1<<20))
	var last string
	for range 30 {
		last = q.put(envelope.ID{2}, "flooder", make([]byte, 1<<20))
		if last == "" {
			t.Fatal("one client's flood not held: it should evict its own")
		}
	}
	if _, ok := q.get(envelope.ID{1}, mine); !ok {
		t.Fatal("one client's flood evicted the recipient's envelope")
	}
	// The flooder holds 3 MB; another client adding 1 MB may evict from it.
	if q.put(envelope.ID{3}, "newcomer", make([]byte, 1<<20)) == "" {
		t.Error("a newcomer could not evict from the client holding the most")
	}
	if _, ok := q.get(envelope.ID{2}, last); !ok {
		t.Error("the flooder's newest envelope went before its older ones")
	}
}
