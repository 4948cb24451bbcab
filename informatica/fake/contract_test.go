package fake_test

import (
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// TestDemoContractAlerts: on any day the demo runs, the two licence and
// threshold alerts of the mixin have something to fire on: an edition that
// expires within 30 days but not within 7, and an org whose billing-period
// IPUs are over its absolute threshold from the first day of each period.
func TestDemoContractAlerts(t *testing.T) {
	t.Parallel()
	first, last := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2031, 12, 31, 0, 0, 0, 0, time.UTC)
	d := &fake.Dataset{Orgs: fake.DemoOrgs, Meters: fake.DemoMeters, First: first, Last: last}
	for day := first; day.Before(last); day = day.AddDate(0, 0, 1) {
		now := day.Add(23*time.Hour + 59*time.Minute)
		c := fake.DemoContract(now)
		prod := c.Licenses[fake.DemoOrgs[0].ID]
		if left := prod.Editions[0].Expires.Sub(now); left <= 7*24*time.Hour || left > 30*24*time.Hour {
			t.Fatalf("on %s the first edition expires in %s, want between 7 and 30 days", now, left)
		}
		if day.Day() != 1 {
			continue
		}
		crossed := false
		for _, o := range fake.DemoOrgs {
			a, ok := c.Alerts[o.ID]
			if !ok || a.Percentage {
				continue
			}
			sum := 0.0
			for _, r := range d.Rows([]fake.Org{o}, day, day) {
				sum += r.IPU
			}
			crossed = crossed || sum > a.Threshold
		}
		if !crossed {
			t.Fatalf("on %s, the first day of a period, no org is over its absolute IPU threshold", day.Format(time.DateOnly))
		}
	}
}
