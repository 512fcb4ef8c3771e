package boltstore

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestDayOf checks what walkDays relies on: the day numbers sort as the times
// do, a day's number is shared by exactly its UTC instants (midnight starts a
// day, the nanosecond before it ends the previous one, before 1970 too), and
// the key of a day is as ordered as its number.
func TestDayOf(t *testing.T) {
	midnight := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	for _, at := range []time.Time{
		midnight(1970, 1, 1), midnight(1969, 12, 31), midnight(1960, 2, 29),
		midnight(2026, 12, 6), midnight(2400, 3, 1), midnight(1, 1, 1),
	} {
		day := dayOf(at)
		if got := dayOf(at.Add(-time.Nanosecond)); got != day-1 {
			t.Errorf("%v − 1ns: day %d, want %d", at, got, day-1)
		}
		if got := dayOf(at.Add(24*time.Hour - time.Nanosecond)); got != day {
			t.Errorf("%v + 1 day − 1ns: day %d, want %d", at, got, day)
		}
		if got := dayOf(at.Add(24 * time.Hour)); got != day+1 {
			t.Errorf("%v + 1 day: day %d, want %d", at, got, day+1)
		}
		// Another zone's clock names the same instant, so the same day.
		if got := dayOf(at.In(time.FixedZone("UTC+14", 14*3600))); got != day {
			t.Errorf("%v in UTC+14: day %d, want %d", at, got, day)
		}
	}
	if got, want := dayOf(midnight(1970, 1, 1)), uint32(1<<31); got != want {
		t.Errorf("1970-01-01: day %#x, want %#x", got, want)
	}
	// Clamped at the far ends, still in order.
	if lo, hi := dayOf(time.Unix(math.MinInt64/2, 0)), dayOf(time.Unix(math.MaxInt64/2, 0)); lo != 0 || hi != math.MaxUint32 {
		t.Errorf("far past, far future: days %#x, %#x; want 0, %#x", lo, hi, uint32(math.MaxUint32))
	}
	r := rand.New(rand.NewPCG(1, 2))
	span := int64(400 * 365 * 24 * 3600) // seconds either side of 1970
	for range 10000 {
		a := time.Unix(r.Int64N(2*span)-span, r.Int64N(1e9))
		b := a.Add(time.Duration(r.Int64N(int64(1000 * 24 * time.Hour))))
		da, db := dayOf(a), dayOf(b)
		if da > db {
			t.Fatalf("%v before %v but day %d after %d", a, b, da, db)
		}
		if string(dayKey(da)) > string(dayKey(db)) {
			t.Fatalf("day keys %x, %x out of order", dayKey(da), dayKey(db))
		}
		if a.UTC().Truncate(24*time.Hour).Equal(b.UTC().Truncate(24*time.Hour)) && da != db {
			t.Fatalf("%v and %v share a UTC day but have days %d, %d", a, b, da, db)
		}
	}
}

// FuzzDayPartitioned: the migration's key rewrite takes any bytes without
// panicking, and what it accepts is an address, time and id behind the day
// of that time, which the rewrite keeps whole.
func FuzzDayPartitioned(f *testing.F) {
	addr, _ := addrKey("patient@example.org")
	id := make([]byte, idLen)
	f.Add(join(addr, timeKey(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)), id))
	f.Add(join(addr, timeKey(time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC)), id))
	f.Add([]byte{0, 3, 'a', 'b'})
	f.Add([]byte{0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, k []byte) {
		nk, err := dayPartitioned(k)
		if err != nil {
			return
		}
		if !bytes.Equal(nk[dayLen:], k) {
			t.Fatalf("rewrite of %x changed the key: %x", k, nk)
		}
		n := len(k) - timeLen - idLen
		if want := dayKey(dayOf(keyTime(k[n:]))); !bytes.Equal(nk[:dayLen], want) {
			t.Fatalf("rewrite of %x: day %x, want %x", k, nk[:dayLen], want)
		}
	})
}
