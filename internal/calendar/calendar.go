// Package calendar does the proleptic Gregorian arithmetic that readers of dates
// need without package time, which adds 50 KB to the browser decryptor.
package calendar

// DaysIn returns the number of days in month (1–12) of year.
func DaysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// DaysSinceEpoch counts days from 1970-01-01 to year-month-day (Howard Hinnant's
// days_from_civil).
func DaysSinceEpoch(year, month, day int) int64 {
	y := year
	if month <= 2 {
		y--
	}
	era := y / 400
	if y < 0 { // floor, not truncation: year 0 January reaches y = -1
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (month + 9) % 12
	doy := (153*mp+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
