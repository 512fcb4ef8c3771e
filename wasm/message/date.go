package message

import (
	"strconv"
	"strings"

	"github.com/waxseal/waxseal/internal/calendar"
)

var months = [...]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

func month(s string) int {
	if len(s) < 3 {
		return 0
	}
	s = lower(s[:3])
	for i, m := range months {
		if s == m {
			return i + 1
		}
	}
	return 0
}

// zones are the obsolete zone names of RFC 5322 section 4.3, in hours.
var zones = map[string]int{
	"ut": 0, "utc": 0, "gmt": 0, "z": 0,
	"est": -5, "edt": -4, "cst": -6, "cdt": -5, "mst": -7, "mdt": -6, "pst": -8, "pdt": -7,
}

// parseDate reads an RFC 5322 date leniently and returns it in milliseconds since
// 1970 UTC (package time would add 50 KB to the decryptor for this one use). It reads: optional day of week, obsolete
// zone names, missing seconds, two-digit years, comments, a missing zone (read
// as UTC), and the asctime order "Jan 2 15:04:05 2006".
func parseDate(s string) (unixMilli int64, ok bool) {
	// drop comments such as "(CEST)"
	var sb strings.Builder
	depth := 0
	for _, r := range s {
		switch {
		case r == '(':
			depth++
		case r == ')' && depth > 0:
			depth--
		case depth == 0:
			if r == ',' {
				r = ' '
			}
			sb.WriteRune(r)
		}
	}
	f := fields(sb.String())
	if len(f) > 0 && month(f[0]) == 0 {
		if _, err := strconv.Atoi(f[0]); err != nil {
			f = f[1:] // day of week
		}
	}
	if len(f) < 4 {
		return 0, false
	}
	var dayS, monS, yearS, clock, zone string
	if month(f[0]) != 0 { // "Jan 2 2006 15:04:05" or asctime "Jan 2 15:04:05 2006"
		monS, dayS = f[0], f[1]
		if strings.Contains(f[2], ":") {
			clock, yearS = f[2], f[3]
		} else {
			yearS, clock = f[2], f[3]
		}
	} else {
		dayS, monS, yearS, clock = f[0], f[1], f[2], f[3]
	}
	if len(f) > 4 {
		zone = f[4]
	}

	day, err := strconv.Atoi(dayS)
	if err != nil || day < 1 || day > 31 {
		return 0, false
	}
	mon := month(monS)
	if mon == 0 {
		return 0, false
	}
	year, err := strconv.Atoi(yearS)
	if err != nil || year < 0 || year > 9999 {
		return 0, false
	}
	switch len(yearS) {
	case 1, 2:
		if year < 50 {
			year += 2000
		} else {
			year += 1900
		}
	case 3:
		year += 1900
	}
	hms := strings.Split(clock, ":")
	if len(hms) < 2 || len(hms) > 3 {
		return 0, false
	}
	var t [3]int
	limits := [3]int{23, 59, 60}
	for i, x := range hms {
		n, err := strconv.Atoi(x)
		if err != nil || n < 0 || n > limits[i] || len(x) > 2 {
			return 0, false
		}
		t[i] = n
	}
	if t[2] == 60 {
		t[2] = 59 // a leap second
	}
	offset, ok := zoneOffset(zone)
	if !ok {
		offset = 0 // RFC 5322: an unknown zone is read as -0000
	}
	if day > calendar.DaysIn(year, mon) { // e.g. 31 Feb
		return 0, false
	}
	secs := calendar.DaysSinceEpoch(year, mon, day)*86400 + int64(t[0]*3600+t[1]*60+t[2]) - int64(offset)
	return secs * 1000, true
}

// zoneOffset reads "+hhmm", "-hh:mm" or a zone name, in seconds east of UTC.
func zoneOffset(z string) (int, bool) {
	if z == "" {
		return 0, true
	}
	if h, ok := zones[lower(z)]; ok {
		return h * 3600, true
	}
	if z[0] != '+' && z[0] != '-' {
		return 0, false
	}
	digits := strings.ReplaceAll(z[1:], ":", "")
	if len(digits) != 4 {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 0 || n/100 > 23 || n%100 > 59 {
		return 0, false
	}
	off := (n/100)*3600 + (n%100)*60
	if z[0] == '-' {
		off = -off
	}
	return off, true
}
