package usage

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
)

// TestPeriodNormalisingIsIdempotent: a billing period, however the export
// spells it, is read as its first and last day, and a table's rows built
// into a table again (as Merge and a state file reload do) keep that period,
// however many times. Random periods and spellings from a fixed seed.
func TestPeriodNormalisingIsIdempotent(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 10))
	for i := range 5000 {
		first := time.Date(2020+rng.IntN(10), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC)
		var last time.Time
		wholeMonths := rng.IntN(2) == 0
		if wholeMonths {
			last = first.AddDate(0, []int{1, 3, 12}[rng.IntN(3)], -1)
		} else {
			// Any length: a period as some file may write it, such as
			// 01-15 to 02-15 23:59:59.
			last = first.AddDate(0, 0, rng.IntN(400))
		}
		// The end as the last day's last instant, a time within the last
		// day, and for whole months as the last day's date and as the
		// first instant after it.
		ends := []time.Time{last.Add(24*time.Hour - time.Second), last.Add(time.Duration(1+rng.IntN(86399)) * time.Second)}
		if wholeMonths {
			ends = append(ends, last, last.AddDate(0, 0, 1))
		}
		end := ends[rng.IntN(len(ends))]
		start := first
		if rng.IntN(2) == 0 {
			start = first.Add(time.Duration(rng.IntN(86400)) * time.Second)
		}
		r := &informatica.UsageRow{OrgID: "o", MeterID: "m", Date: first, IPU: 1, BillingPeriodStart: start, BillingPeriodEnd: end}
		b := NewBuilder()
		if err := b.Add(r); err != nil {
			t.Fatal(err)
		}
		tb := b.Table()
		want := [2]int64{first.Unix(), last.Unix()}
		for round := range 3 {
			e := tb.Entry(0)
			if got := [2]int64{e.PeriodStart, e.PeriodEnd}; got != want {
				t.Fatalf("case %d, round %d: period %s..%s read as %s..%s, want %s..%s", i, round, start, end,
					time.Unix(got[0], 0).UTC().Format(time.DateOnly), time.Unix(got[1], 0).UTC().Format(time.DateOnly),
					first.Format(time.DateOnly), last.Format(time.DateOnly))
			}
			// A merge builds the table from the old one's rows again.
			tb = Merge(tb, NewBuilder().Table(), Coverage{From: 0, To: 0}, DayNumber(first)-1)
		}
	}
}

// TestPeriodSurvivesMerge is the case found: start 2024-01-15, end
// 2024-02-15 23:59:59 became 01-15..02-14 after a merge.
func TestPeriodSurvivesMerge(t *testing.T) {
	tb := buildTable(t, row{org: "o", meter: "m", date: "2024-01-20", start: "2024-01-15", end: "2024-02-15T23:59:59Z", ipu: 1})
	for range 2 {
		tb = Merge(tb, NewBuilder().Table(), Coverage{From: 0, To: 0}, 0)
		e := tb.Entry(0)
		if got, want := time.Unix(e.PeriodEnd, 0).UTC().Format(time.DateOnly), "2024-02-15"; got != want {
			t.Fatalf("period ends %s after a merge, want %s", got, want)
		}
	}
}
