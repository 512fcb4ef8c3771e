package calendar

import (
	"testing"
	"time"
)

// TestAgainstTime checks every day from year 0 to 2500 against package time.
func TestAgainstTime(t *testing.T) {
	for d := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() <= 2500; d = d.AddDate(0, 0, 1) {
		y, m, day := d.Date()
		if got, want := DaysSinceEpoch(y, int(m), day), d.Unix()/86400; got != want {
			t.Fatalf("DaysSinceEpoch(%v) = %d, want %d", d.Format(time.DateOnly), got, want)
		}
		if day == 1 {
			if got, want := DaysIn(y, int(m)), d.AddDate(0, 1, -1).Day(); got != want {
				t.Fatalf("DaysIn(%d, %d) = %d, want %d", y, m, got, want)
			}
		}
	}
}
