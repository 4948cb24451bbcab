// The date and time forms export files write, read without regard to the
// host's time zone.

package informatica

import (
	"errors"
	"strings"
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
// is [D 18b]. A zone abbreviation after the time is read by zoneOffsets,
// and 1/2/2006 may be day first: see parseTime.
var timeLayouts = []string{
	"2006-01-02",
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	// ISO 8601 with an offset without a colon (+0000) [INF: job-level
	// times are not documented].
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999Z0700",
	"1/2/2006",
	"1/2/2006 15:04:05",
	"1/2/2006 15:04",
	"1/2/2006 3:04:05 PM",
	"1/2/2006 3:04 PM",
	"2006/01/02",
	"2006/01/02 15:04:05",
}

// zoneOffsets are the zone abbreviations a time may end with, and their
// offsets from UTC in seconds: those of the regions Informatica's PODs
// serve (North America, Europe, the UK, Asia-Pacific), each with the one
// meaning it has there. Go's own reading of an abbreviation depends on the
// host's time zone (its real offset when the host's zone uses it, else
// zero), so it is never used. Abbreviations with several meanings (IST,
// BST, CST in China) and those not listed are refused: a wrong guess
// moves usage to another day.
var zoneOffsets = map[string]int{
	"UTC": 0, "GMT": 0, "Z": 0,
	"EST": -5 * 3600, "EDT": -4 * 3600, "CST": -6 * 3600, "CDT": -5 * 3600,
	"MST": -7 * 3600, "MDT": -6 * 3600, "PST": -8 * 3600, "PDT": -7 * 3600,
	"WET": 0, "WEST": 1 * 3600, "CET": 1 * 3600, "CEST": 2 * 3600, "EET": 2 * 3600, "EEST": 3 * 3600,
	"SGT": 8 * 3600, "JST": 9 * 3600, "KST": 9 * 3600, "AEST": 10 * 3600, "AEDT": 11 * 3600,
}

var (
	errUnknownZone   = errors.New("time zone abbreviation not known (use an offset such as -08:00, or UTC)")
	errAmbiguousDate = errors.New("day and month could be either way round, and no date of the file settles it (a day over 12)")
)

// dayOrder is the order of day and month in a file's dates written with
// slashes: 03/04/2024 is 4 March month first and 3 April day first.
type dayOrder int8

const (
	orderUnknown dayOrder = iota
	monthFirst
	dayFirst
)

func (o dayOrder) String() string {
	return [...]string{"not known", "month first", "day first"}[o]
}

// slashOrder tells what a date written with slashes says of the order: the
// order when one of its first two numbers is over 12, orderUnknown with
// ambiguous set when both are 12 or less and differ. Other text says
// nothing.
func slashOrder(v []byte) (o dayOrder, ambiguous bool) {
	a, i := leadingNumber(v, 0)
	if i == 0 || i >= len(v) || v[i] != '/' {
		return orderUnknown, false
	}
	b, j := leadingNumber(v, i+1)
	if j == i+1 || j >= len(v) || v[j] != '/' {
		return orderUnknown, false
	}
	switch {
	case a > 12 && b <= 12:
		return dayFirst, false
	case b > 12 && a <= 12:
		return monthFirst, false
	}
	return orderUnknown, a != b && a <= 12 && b <= 12
}

// leadingNumber reads up to two digits at v[i:]; it returns the number and
// the index after them.
func leadingNumber(v []byte, i int) (int, int) {
	n, j := 0, i
	for ; j < len(v) && j < i+2 && v[j]-'0' <= 9; j++ {
		n = n*10 + int(v[j]-'0')
	}
	return n, j
}

// ParseTime parses a date or timestamp in any format Informatica is known to
// use. A date with slashes is read month first unless its numbers say
// otherwise; one they leave ambiguous (03/04/2024) is refused: only a file's
// other dates can settle it (parseTime).
func ParseTime(s string) (time.Time, error) {
	return parseTime(s, orderUnknown)
}

// parseTime parses s as ParseTime does, with the order of day and month
// in a date with slashes that the file's dates settled.
func parseTime(s string, order dayOrder) (time.Time, error) {
	zone := ""
	if i := strings.LastIndexByte(s, ' '); i > 0 && isAbbreviation(s[i+1:]) {
		zone, s = s[i+1:], s[:i]
	}
	if o, ambiguous := slashOrder([]byte(s)); o == dayFirst || ambiguous && order == dayFirst {
		// Day first: the layouts are month first.
		first := strings.IndexByte(s, '/')
		second := first + 1 + strings.IndexByte(s[first+1:], '/')
		s = s[first+1:second] + "/" + s[:first] + s[second:]
	} else if ambiguous && order == orderUnknown {
		return time.Time{}, errAmbiguousDate
	}
	for _, layout := range timeLayouts {
		// In UTC, not time.Local: an offset the host's zone also has
		// would give the result the host's zone.
		t, err := time.ParseInLocation(layout, s, time.UTC)
		if err != nil {
			continue
		}
		if zone == "" {
			return t, nil
		}
		offset, ok := zoneOffsets[zone]
		if !ok {
			return time.Time{}, errUnknownZone
		}
		return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.FixedZone(zone, offset)), nil
	}
	return time.Time{}, errNotDate
}

// isAbbreviation reports whether s looks like a zone abbreviation: one to
// five capital letters, and not AM or PM.
func isAbbreviation(s string) bool {
	if len(s) == 0 || len(s) > 5 || s == "AM" || s == "PM" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}
