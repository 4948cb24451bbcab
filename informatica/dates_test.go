package informatica

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// zoneInput has every date form with a zone, in each date column of the
// readers.
const zoneInput = "OrgId,MeterId,Date,BillingPeriodStartDate,BillingPeriodEndDate,IPU\n" +
	"o,m,2024-03-01 23:30:00 PST,2024-03-01 00:00:00 PST,2024-03-31 23:59:59 PDT,1\n" +
	"o,m,2024-03-02,2024-03-01T00:00:00-08:00,2024-03-31 23:59:59 UTC,1\n" +
	"o,m,2024-03-03T10:00:00+14:00,2024-03-01 00:00:00 CET,2024-03-31 23:59:59 GMT,1\n"

// readZoneInput reads zoneInput with the summary reader and the others,
// and writes what they read, as Unix seconds.
func readZoneInput() (string, error) {
	var b strings.Builder
	_, err := ReadUsageCSV("zones.csv", strings.NewReader(zoneInput), func(r *UsageRow) error {
		fmt.Fprintf(&b, "%d %d %d\n", r.Date.Unix(), r.BillingPeriodStart.Unix(), r.BillingPeriodEnd.Unix())
		return nil
	})
	if err != nil {
		return "", err
	}
	tasks := "Task ID,Start Time,Metered Value\nt,2024-03-01 23:30:00 PST,1\nt,2024-03-01 20:00:00 EST,1\n"
	_, err = ReadTaskCSV("tasks.csv", strings.NewReader(tasks), func(r *TaskRow) error {
		fmt.Fprintf(&b, "task %d\n", r.Date.Unix())
		return nil
	}, nil)
	return b.String(), err
}

// TestDatesIgnoreHostZone: what the readers make of a date is the same on
// every host, whatever its time zone. Each zone runs in a process of its
// own, with TZ set.
func TestDatesIgnoreHostZone(t *testing.T) {
	if os.Getenv("INFORMATICA_ZONE_CHILD") == "1" {
		out, err := readZoneInput()
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Print("BEGIN\n" + out + "END\n")
		return
	}
	u := func(s string) int64 {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t.Unix()
	}
	want := fmt.Sprintf("%d %d %d\n%d %d %d\n%d %d %d\ntask %d\ntask %d\n",
		// The Date column is the day written; the period the instant.
		u("2024-03-01T00:00:00Z"), u("2024-03-01T08:00:00Z"), u("2024-04-01T06:59:59Z"),
		u("2024-03-02T00:00:00Z"), u("2024-03-01T08:00:00Z"), u("2024-03-31T23:59:59Z"),
		u("2024-03-03T00:00:00Z"), u("2024-02-29T23:00:00Z"), u("2024-03-31T23:59:59Z"),
		// A run's day is the UTC day it started.
		u("2024-03-02T00:00:00Z"), u("2024-03-02T00:00:00Z"))
	for _, zone := range []string{"UTC", "America/Los_Angeles", "Pacific/Kiritimati", "Europe/Paris", "America/New_York"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDatesIgnoreHostZone$", "-test.v")
		cmd.Env = append(os.Environ(), "INFORMATICA_ZONE_CHILD=1", "TZ="+zone)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("TZ=%s: %v\n%s", zone, err, out)
		}
		got := string(out)
		if i, j := strings.Index(got, "BEGIN\n"), strings.Index(got, "END\n"); i >= 0 && j > i {
			got = got[i+6 : j]
		}
		if got != want {
			t.Errorf("TZ=%s: read\n%s\nwant\n%s", zone, got, want)
		}
	}
}

// TestZoneAbbreviations: an abbreviation outside the table, or with more
// than one meaning, is refused, naming where it is.
func TestZoneAbbreviations(t *testing.T) {
	for _, zone := range []string{"IST", "BST", "XYZ"} {
		text := "OrgId,MeterId,Date,BillingPeriodStartDate,BillingPeriodEndDate,IPU\n" +
			"o,m,2024-03-01,2024-03-01 00:00:00 " + zone + ",2024-03-31,1\n"
		_, err := ReadUsageCSV("z.csv", strings.NewReader(text), func(*UsageRow) error { return nil })
		var ce *CSVError
		if !errors.As(err, &ce) || ce.Line != 2 || ce.Column != "BillingPeriodStartDate" || !errors.Is(err, errUnknownZone) {
			t.Errorf("%s: error %v, want an unknown zone on line 2", zone, err)
		}
	}
	if d, err := ParseTime("3/13/2024 10:00 PM"); err != nil || !d.Equal(time.Date(2024, 3, 13, 22, 0, 0, 0, time.UTC)) {
		t.Errorf("3/13/2024 10:00 PM: %v, %v", d, err)
	}
}

// TestDayMonthOrder: a date with slashes that could be either way round is
// read as the file's other dates settle it, and refused when none does.
func TestDayMonthOrder(t *testing.T) {
	const h = "OrgId,MeterId,Date,BillingPeriodStartDate,BillingPeriodEndDate,IPU\n"
	row := func(date, start, end string) string { return "o,m," + date + "," + start + "," + end + ",1\n" }
	read := func(text string) ([]string, error) {
		var days []string
		_, err := ReadUsageCSV("d.csv", strings.NewReader(text), func(r *UsageRow) error {
			days = append(days, r.Date.Format(time.DateOnly))
			return nil
		})
		return days, err
	}
	for _, c := range []struct {
		name, text string
		want       []string
	}{
		{
			"a later day over 12 settles day first", h + row("03/04/2024", "", "") + row("02/04/2024", "", "") + row("13/04/2024", "", "") + row("04/04/2024", "", ""),
			[]string{"2024-04-03", "2024-04-02", "2024-04-13", "2024-04-04"},
		},
		{
			"a later day over 12 settles month first", h + row("03/04/2024", "", "") + row("03/14/2024", "", ""),
			[]string{"2024-03-04", "2024-03-14"},
		},
		{
			"an earlier one too", h + row("30/04/2024", "", "") + row("03/04/2024", "", ""),
			[]string{"2024-04-30", "2024-04-03"},
		},
		{
			"another column settles it", h + row("03/04/2024", "01/04/2024", "30/04/2024"),
			[]string{"2024-04-03"},
		},
		{
			"the same day and month is no question", h + row("03/03/2024", "", ""),
			[]string{"2024-03-03"},
		},
		{
			"ISO dates are never in question", h + row("2024-03-04", "", ""),
			[]string{"2024-03-04"},
		},
	} {
		days, err := read(c.text)
		if err != nil || strings.Join(days, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s: read %v, error %v; want %v", c.name, days, err, c.want)
		}
	}

	for _, c := range []struct {
		name, text   string
		line         int
		column, val  string
		ambiguousErr bool
	}{
		{"nothing settles it", h + row("2024-03-01", "", "") + row("03/04/2024", "", "") + row("05/04/2024", "", ""), 3, "Date", "03/04/2024", true},
		{"the order contradicts itself", h + row("13/04/2024", "", "") + row("04/14/2024", "", ""), 3, "Date", "04/14/2024", false},
	} {
		days, err := read(c.text)
		var ce *CSVError
		if !errors.As(err, &ce) || ce.File != "d.csv" || ce.Line != c.line || ce.Column != c.column || ce.Value != c.val ||
			errors.Is(err, errAmbiguousDate) != c.ambiguousErr {
			t.Errorf("%s: read %v, error %v; want one at line %d, column %s, value %s", c.name, days, err, c.line, c.column, c.val)
		}
	}

	// The other readers share the rule.
	var got []string
	_, err := ReadAssetCSV("a.csv", strings.NewReader("Meter ID,Date,Asset Name,Org ID,Consumption (IPUs)\nm,05/06/2024,A,o,1\nm,25/06/2024,A,o,1\n"),
		func(r *AssetRow) error { got = append(got, r.Date.Format(time.DateOnly)); return nil })
	if err != nil || strings.Join(got, " ") != "2024-06-05 2024-06-25" {
		t.Errorf("asset dates %v, error %v", got, err)
	}
	if _, err := ParseTime("03/04/2024"); !errors.Is(err, errAmbiguousDate) {
		t.Errorf("ParseTime(03/04/2024): %v, want it refused", err)
	}
}
