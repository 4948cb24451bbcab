package usage

import (
	"errors"
	"strconv"
	"testing"

	"github.com/ipumon/informatica_exporter/informatica"
)

// TestSeriesLimit: an export with more org and meter pairs than MaxSeries
// fails, naming the limit, instead of filling the memory; a merge of two
// tables within it keeps every row.
func TestSeriesLimit(t *testing.T) {
	b := NewBuilder()
	r := &informatica.UsageRow{OrgID: "o", Date: date("2024-06-01"), IPU: 1}
	for i := range MaxSeries {
		r.MeterID = strconv.Itoa(i)
		if err := b.Add(r); err != nil {
			t.Fatalf("series %d: %v", i, err)
		}
	}
	// Known series still take rows.
	r.MeterID, r.Date = "0", date("2024-06-02")
	if err := b.Add(r); err != nil {
		t.Fatalf("a known series: %v", err)
	}
	r.MeterID = "one too many"
	if err := b.Add(r); !errors.Is(err, errTooManySeries) {
		t.Fatalf("series %d: error %v, want the limit", MaxSeries+1, err)
	}
	full := b.Table()
	other := buildTable(t, row{org: "p", meter: "m", date: "2024-06-01", ipu: 1})
	if got := len(Merge(full, other, Coverage{From: 0, To: 0}, 0).Days); got != MaxSeries+2 {
		t.Errorf("merged %d entries, want %d", got, MaxSeries+2)
	}
}
