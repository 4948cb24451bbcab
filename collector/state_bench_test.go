package collector

import (
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/internal/exportgen"
)

// BenchmarkLoadState: reading a 1M-row stored state, what a restart or a
// reload adding the account spends before it serves the data.
func BenchmarkLoadState(b *testing.B) {
	spec := exportgen.Spec{Rows: 1_000_000}
	f, size := openExport(b, benchExport(b, spec))
	t, _ := parse(b, f, size, nil)
	dir := b.TempDir()
	now := spec.Last().Add(36 * time.Hour)
	if err := saveState(dir, stateHeader{Account: "big", Taken: now}, t); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, _, err := loadState(dir, "big"); err != nil {
			b.Fatal(err)
		}
	}
}
