package collector

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBreakdownSeriesLimit: an export with more distinct series than a
// breakdown may hold is refused with an error naming the limit (the run then
// fails and keeps the last good breakdown), and the builder stops growing.
func TestBreakdownSeriesLimit(t *testing.T) {
	b := newRowsBuilder(&assetKind, nil)
	b.limit = 3
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		b.add(seriesKey{"org", "meter", "asset-" + strconv.Itoa(i)}, day, rowValues{1})
		b.add(seriesKey{"org", "meter", "asset-0"}, day, rowValues{1}) // known series still add up
	}
	if b.err == nil || !strings.Contains(b.err.Error(), "more than 3 series") {
		t.Fatalf("error %v, want one naming the limit of 3 series", b.err)
	}
	rows := b.finish(day)
	if len(rows.keys) != 3 || rows.rows[0].v[0] != 6 {
		t.Errorf("%d series, first %v; want 3 series, the first with 6 IPUs", len(rows.keys), rows.rows[0].v)
	}
	if err := b.full(2); err != nil {
		t.Errorf("full(2) with a limit of 3: %v", err)
	}
	if newRowsBuilder(&taskKind, nil).limit != maxBreakdownSeries {
		t.Error("a builder's limit is not maxBreakdownSeries")
	}
}
