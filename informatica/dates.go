// The date and time forms export files write, read without regard to the
// host's time zone.

package informatica

import (
	"time"
)

// plausibleDate rejects dates no metering data can have. The zero time, year
// 1, also stands for a missing date, so it must never be read as one.
func plausibleDate(t time.Time) bool {
	return t.Year() >= 1970 && t.Year() <= 9999
}

const secondsPerDay = 86400

// parseDate parses the common layout 2006-01-02 without time.Parse.
func parseDate(b []byte) (time.Time, bool) {
	days, _, ok := parseDay(b)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(days*secondsPerDay, 0).UTC(), true
}

// parseDay parses the layout 2006-01-02 to the day it names, counted from
// 1970-01-01, and its year (0 to 9999).
func parseDay(b []byte) (days int64, year int, ok bool) {
	if len(b) != 10 || b[4] != '-' || b[7] != '-' {
		return 0, 0, false
	}
	var v [8]int
	for k, i := range [8]int{0, 1, 2, 3, 5, 6, 8, 9} {
		c := b[i] - '0'
		if c > 9 {
			return 0, 0, false
		}
		v[k] = int(c)
	}
	y, m, d := v[0]*1000+v[1]*100+v[2]*10+v[3], v[4]*10+v[5], v[6]*10+v[7]
	if m < 1 || m > 12 || d < 1 || d > daysIn(time.Month(m), y) {
		return 0, 0, false
	}
	return daysFromCivil(y, m, d), y, true
}

func daysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// daysFromCivil counts the days from 1970-01-01 to a date of the proleptic
// Gregorian calendar (Howard Hinnant's algorithm), for years 0 to 9999.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := (y+400)/400 - 1 // y >= -1
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// timeLayouts are the date formats seen in Informatica's exports and docs.
// The format of the CSV date columns is not documented, so every plausible
// one is accepted; values without a zone are UTC, as Informatica's billing
// is.
var timeLayouts = []string{
	"2006-01-02",
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05 MST",
	"1/2/2006",
	"1/2/2006 15:04:05",
	"1/2/2006 15:04",
	"1/2/2006 3:04:05 PM",
	"1/2/2006 3:04 PM",
	"2006/01/02",
	"2006/01/02 15:04:05",
}

// ParseTime parses a date or timestamp in any format Informatica is known to
// use.
func ParseTime(s string) (time.Time, error) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errNotDate
}
