package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// BenchmarkRestartFirstScrape: how long a restarted exporter (a new
// process on the same --storage.path, the asset and task breakdowns on, as
// in TestRestartServesEveryDataset) takes from its start to a /metrics
// answer that holds every data series the first process served. The
// target is 3 s. first-scrape-ms is the time from starting the process;
// one run is one restart.
func BenchmarkRestartFirstScrape(b *testing.B) {
	at := date(2026, 6, 15, 12, 0, 0)
	f := startFake(b, fake.Options{Now: frozen(at)})
	dir := b.TempDir()
	storage := filepath.Join(dir, "storage")
	if err := os.Mkdir(storage, 0o700); err != nil {
		b.Fatal(err)
	}
	config := writeConfig(b, dir, "1h", accountYAML("acme", f, "    breakdowns: [asset, task]\n"))
	args := []string{"--config.file=" + config, "--storage.path=" + storage}

	first, child := startProcess(b, at, args...)
	var want map[string]float64
	waitFor(b, time.Minute, "both breakdowns and every contract source", func() bool {
		want = dataSeries(first.scrape())
		return everyDatasetRead(want, "acme")
	})
	child.stop(b)

	var took time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		p, c := startProcess(b, at.Add(time.Minute), args...)
		for len(dataSeries(p.scrape())) < len(want) {
			if time.Since(start) > patience {
				b.Fatalf("the restarted exporter served fewer than the %d series of the first after %s", len(want), patience)
			}
			time.Sleep(5 * time.Millisecond)
		}
		took = time.Since(start)
		b.StopTimer()
		c.stop(b)
		b.StartTimer()
	}
	b.ReportMetric(float64(took)/1e6, "first-scrape-ms")
	b.ReportMetric(float64(len(want)), "series")
}
