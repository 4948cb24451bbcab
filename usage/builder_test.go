package usage

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
)

// referenceTable is what a Builder must make of rows: one entry per org,
// meter and day, in that order, the rows of a day summed in the order they
// came, the first billing period and the last rate given.
func referenceTable(rows []informatica.UsageRow) []Entry {
	type key struct {
		org, meter string
		day        int32
	}
	orgs, meters := map[string]int32{}, map[string]int32{}
	sums := map[key]*Entry{}
	for _, r := range rows {
		if _, ok := orgs[r.OrgID]; !ok {
			orgs[r.OrgID] = int32(len(orgs))
		}
		if _, ok := meters[r.MeterID]; !ok {
			meters[r.MeterID] = int32(len(meters))
		}
		k := key{r.OrgID, r.MeterID, DayNumber(r.Date)}
		e := sums[k]
		if e == nil {
			e = &Entry{Org: orgs[r.OrgID], Meter: meters[r.MeterID], Day: k.day}
			sums[k] = e
		}
		e.IPU += r.IPU
		e.Usage += r.MeterUsage
		if e.PeriodStart == 0 && e.PeriodEnd == 0 && !r.BillingPeriodStart.IsZero() {
			e.PeriodStart, e.PeriodEnd = canonicalPeriod(r.BillingPeriodStart, r.BillingPeriodEnd)
		}
		if r.HasIPURate {
			e.Rate, e.HasRate = r.IPURate, true
		}
	}
	var out []Entry
	for _, e := range sums {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b Entry) int {
		if a.Org != b.Org {
			return int(a.Org - b.Org)
		}
		if a.Meter != b.Meter {
			return int(a.Meter - b.Meter)
		}
		return int(a.Day - b.Day)
	})
	return out
}

func entries(t *Table) []Entry {
	out := make([]Entry, len(t.Days))
	for i := range t.Days {
		out[i] = t.Entry(i)
	}
	return out
}

// shapedRows makes rows of many shapes: in order, reversed, shuffled, with
// repeated days, one long series among one-row ones. Values are whole
// numbers, so that sums do not depend on the order of the additions.
func shapedRows(rng *rand.Rand, n int) []informatica.UsageRow {
	first := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	orgs, meters, days := 1+rng.IntN(30), 1+rng.IntN(12), 1+rng.IntN(60)
	var rows []informatica.UsageRow
	for range n {
		r := informatica.UsageRow{
			OrgID: fmt.Sprintf("org%d", rng.IntN(orgs)), MeterID: fmt.Sprintf("m%d", rng.IntN(meters)),
			Date: first.AddDate(0, 0, rng.IntN(days)),
			IPU:  float64(rng.IntN(100)), MeterUsage: float64(rng.IntN(1000)),
		}
		r.OrgName, r.MeterName = "name of "+r.OrgID, "name of "+r.MeterID
		if rng.IntN(3) > 0 {
			r.BillingPeriodStart, r.BillingPeriodEnd = first.AddDate(0, rng.IntN(2), 0), first.AddDate(0, 3, 0)
		}
		if rng.IntN(2) == 0 {
			r.IPURate, r.HasIPURate = float64(rng.IntN(5)), true
		}
		rows = append(rows, r)
	}
	switch rng.IntN(4) {
	case 0:
		slices.SortStableFunc(rows, func(a, b informatica.UsageRow) int { return a.Date.Compare(b.Date) })
	case 1:
		slices.SortStableFunc(rows, func(a, b informatica.UsageRow) int { return b.Date.Compare(a.Date) })
	}
	return rows
}

func TestBuilderMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		rows := shapedRows(rng, rng.IntN(3000))
		want := referenceTable(rows)

		b := NewBuilder()
		for i := range rows {
			b.Add(&rows[i])
		}
		if got := entries(b.Table()); !slices.Equal(got, want) {
			t.Fatalf("round %d: one builder: %d entries, want %d", round, len(got), len(want))
		}
		if b.Rows() != len(want) {
			t.Fatalf("round %d: Rows() = %d, want %d", round, b.Rows(), len(want))
		}

		// The same rows cut into parts, built apart and joined in order;
		// rows added after the join and after a Table go on where they
		// left off.
		joined := NewBuilder()
		cuts := []int{0}
		for k := 0; k < len(rows); k += 1 + rng.IntN(len(rows)/3+1) {
			cuts = append(cuts, k)
		}
		cuts = append(cuts, len(rows))
		for k := 1; k < len(cuts); k++ {
			part := NewBuilder()
			for i := cuts[k-1]; i < cuts[k]; i++ {
				part.Add(&rows[i])
			}
			if rng.IntN(2) == 0 {
				part.Table()
			}
			joined.Absorb(part)
		}
		if got := entries(joined.Table()); !slices.Equal(got, want) {
			t.Fatalf("round %d: parts joined: %d entries, want %d", round, len(got), len(want))
		}
		more := shapedRows(rng, rng.IntN(200))
		for i := range more {
			joined.Add(&more[i])
		}
		all := append(slices.Clone(rows), more...)
		if got, want := entries(joined.Table()), referenceTable(all); !slices.Equal(got, want) {
			t.Fatalf("round %d: rows after the join: %d entries, want %d", round, len(got), len(want))
		}
		if joined.Table().Orgs[0] != b.Table().Orgs[0] && len(rows) > 0 {
			t.Fatalf("round %d: org names differ", round)
		}
	}
}
