// Command benchtable turns the output of the benchmarks and tests that
// scripts/bench.sh runs into the table of BENCHMARKS.md. It reads standard
// input: `go test -bench` lines (the median of repeated runs is used),
// the ECONOMY lines of the refresh economy tests, the IDLE line of
// scripts/idlecost and MACHINE lines.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// bench holds every value seen per benchmark and unit.
type bench map[string]map[string][]float64

func (b bench) get(name, unit string) (float64, bool) {
	vs := b[name][unit]
	if len(vs) == 0 {
		return 0, false
	}
	vs = slices.Clone(vs)
	slices.Sort(vs)
	return vs[len(vs)/2], true
}

// min is the smallest value seen.
func (b bench) min(name, unit string) (float64, bool) {
	vs := b[name][unit]
	if len(vs) == 0 {
		return 0, false
	}
	return slices.Min(vs), true
}

// runs is how many values were seen.
func (b bench) runs(name, unit string) int { return len(b[name][unit]) }

var cpuSuffix = regexp.MustCompile(`-\d+$`)

func main() {
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "Usage: benchtable [-reload] < OUTPUT\n\nReads the output of scripts/bench.sh's benchmarks on standard input and prints the table of BENCHMARKS.md.")
		flag.PrintDefaults()
	}
	reloadOnly := flag.Bool("reload", false, "print only the reload and restart sections (scripts/bench.sh COUNT reload)")
	flag.Parse()
	b := bench{}
	var economy, idle, machine []string
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "Benchmark"):
			f := strings.Fields(line)
			if len(f) < 4 {
				continue
			}
			name := cpuSuffix.ReplaceAllString(f[0], "")
			if b[name] == nil {
				b[name] = map[string][]float64{}
			}
			for i := 2; i+1 < len(f); i += 2 {
				v, err := strconv.ParseFloat(f[i], 64)
				if err == nil {
					b[name][f[i+1]] = append(b[name][f[i+1]], v)
				}
			}
		case strings.Contains(line, "ECONOMY "):
			economy = append(economy, line[strings.Index(line, "ECONOMY ")+len("ECONOMY "):])
		case strings.HasPrefix(line, "IDLE "):
			idle = append(idle, strings.TrimPrefix(line, "IDLE "))
		case strings.HasPrefix(line, "MACHINE "):
			machine = append(machine, strings.TrimPrefix(line, "MACHINE "))
		}
	}

	val := func(name, unit string) string {
		v, ok := b.get(name, unit)
		if !ok {
			return "n/a"
		}
		return num(v)
	}
	fmt.Println("Machine")
	for _, m := range machine {
		fmt.Println("  " + m)
	}

	// mm is "min / median" of a figure, scaled.
	mm := func(name, unit string, scale float64) string {
		lo, ok := b.min(name, unit)
		if !ok {
			return "n/a"
		}
		med, _ := b.get(name, unit)
		return num(lo*scale) + " / " + num(med*scale)
	}
	if *reloadOnly {
		printReload(b, mm)
		return
	}

	fmt.Println()
	fmt.Println("1. Parse: generated export ZIP -> per-day table (50 orgs, 40 meters; one CSV per meter, or one combined CSV),")
	fmt.Println("   paired in one loop with inflating the same ZIP to io.Discard on one core (compress/flate, then klauspost/compress).")
	fmt.Println("   Every cell: min / median of the runs. Wall ms, then CPU ms (getrusage, all threads, GC included).")
	fmt.Println("| export | runs | inflate ms | klauspost ms | parse ms | parse/inflate | inflate CPU | klauspost CPU | parse CPU | parse CPU/inflate CPU | allocs/row | peak heap MiB | table MiB | parser heap MiB |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, v := range []string{"rows=10000", "rows=100000", "rows=1000000", "rows=1000000/combined"} {
		n := "BenchmarkParse/" + v
		fmt.Printf("| %s | %d | %s | %s | %s | %sx | %s | %s | %s | %sx | %s | %s | %s | %s |\n", v, b.runs(n, "ns/op"),
			mm(n, "inflate-ns/op", 1e-6), mm(n, "klauspost-ns/op", 1e-6), mm(n, "ns/op", 1e-6), mm(n, "x-inflate", 1),
			mm(n, "inflate-cpu-ms", 1), mm(n, "klauspost-cpu-ms", 1), mm(n, "parse-cpu-ms", 1), mm(n, "cpu-x-inflate", 1),
			val(n, "allocs/row"), val(n, "peak-heap-MiB"), val(n, "table-MiB"), val(n, "parser-heap-MiB"))
	}
	for _, v := range []string{"rows=1000000", "rows=1000000/combined"} {
		n := "BenchmarkParse/" + v
		x, _ := b.get(n, "x-inflate")
		c, _ := b.get(n, "cpu-x-inflate")
		fmt.Printf("  %s: target wall <= 1.0x stdlib inflate: median %sx, %s; target CPU <= 1.8x stdlib inflate CPU: median %sx, %s\n",
			v, num(x), verdict(x > 0 && x <= 1), num(c), verdict(c > 0 && c <= 1.8))
	}
	fmt.Printf("  CSV reader alone, 100k rows in memory: %s ns/row; encoding/csv splitting the same records: %s ns/row\n",
		val("BenchmarkReadUsageCSV/ReadUsageCSV", "ns/row"), val("BenchmarkReadUsageCSV/encoding_csv", "ns/row"))

	fmt.Println()
	fmt.Println("2. Memory by shape: 1M rows into a Builder and its Table, each shape in a process of its own (min / median)")
	fmt.Println("| shape | runs | peak RSS MiB | RSS before MiB | peak heap MiB | peak RSS / dense |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	worst := 0.0
	for _, sh := range []string{"dense", "long-then-short", "one-row-series", "reverse-dates"} {
		n := "BenchmarkBuilderShapes/shape=" + sh
		x, _ := b.get(n, "x-dense")
		worst = max(worst, x)
		fmt.Printf("| %s | %d | %s | %s | %s | %sx |\n", sh, b.runs(n, "peak-rss-MiB"), mm(n, "peak-rss-MiB", 1), mm(n, "base-rss-MiB", 1),
			mm(n, "peak-heap-MiB", 1), mm(n, "x-dense", 1))
	}
	fmt.Printf("  target peak RSS of every shape <= 1.5x dense: worst median %sx, %s\n", num(worst), verdict(worst > 0 && worst <= 1.5))

	fmt.Println()
	fmt.Println("3. Scale: orgs x meters, 30 days each, one process per run (min / median of the runs)")
	fmt.Println("   refresh CPU: parse, render, encode (text, OpenMetrics, deflate of each); RSS after the refresh and after 100 scrapes;")
	fmt.Println("   scrapes over HTTP (OpenMetrics, as Prometheus negotiates), 50 of each kind alternating with net/http serving the same bytes from memory (floor);")
	fmt.Println("   cold: the first scrape after a refresh (median of 5 per run).")
	fmt.Println("| size | runs | series | body MB | gzip MB | refresh CPU ms | RSS refresh MiB | RSS 100 scrapes MiB | growth | cold ms | p50 ms | p99 ms | floor p50 ms | p50/floor | gzip cold ms | gzip p50 ms | gzip p99 ms | gzip floor p50 ms | gzip p50/floor |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, sz := range []string{"50x40", "500x40", "2000x60"} {
		n := "BenchmarkScale/size=" + sz
		fmt.Printf("| %s | %d | %s | %s | %s | %s | %s | %s | %sx | %s | %s | %s | %s | %sx | %s | %s | %s | %s | %sx |\n", sz, b.runs(n, "series"),
			val(n, "series"), num(med(b, n, "body-bytes")/1e6), num(med(b, n, "gzip-bytes")/1e6), mm(n, "refresh-cpu-ms", 1),
			mm(n, "rss-refresh-MiB", 1), mm(n, "rss-100-scrapes-MiB", 1), mm(n, "rss-growth", 1),
			mm(n, "cold-p50-ms", 1), mm(n, "p50-ms", 1), mm(n, "p99-ms", 1), mm(n, "floor-p50-ms", 1), mm(n, "x-floor", 1),
			mm(n, "gzip-cold-p50-ms", 1), mm(n, "gzip-p50-ms", 1), mm(n, "gzip-p99-ms", 1), mm(n, "gzip-floor-p50-ms", 1), mm(n, "gzip-x-floor", 1))
		for _, c := range []struct {
			unit  string
			limit float64
			what  string
		}{
			{"x-floor", 1.5, "scrape p50 <= 1.5x floor"},
			{"gzip-x-floor", 1.5, "gzip scrape p50 <= 1.5x floor"},
			{"rss-growth", 1.2, "RSS after 100 scrapes <= 1.2x after the refresh"},
		} {
			v, _ := b.get(n, c.unit)
			fmt.Printf("  %s: target %s: median %sx, %s\n", sz, c.what, num(v), verdict(v > 0 && v <= c.limit))
		}
		cold, _ := b.get(n, "cold-p50-ms")
		warm, _ := b.get(n, "p50-ms")
		zcold, _ := b.get(n, "gzip-cold-p50-ms")
		zwarm, _ := b.get(n, "gzip-p50-ms")
		fmt.Printf("  %s: first scrape after a refresh / warm p50: %sx plain, %sx gzip\n", sz, num(cold/warm), num(zcold/zwarm))
	}
	h := "BenchmarkScrapeHTTP"
	fmt.Printf("  /metrics over HTTP, 50x40, 8 concurrent scrapers, gzip: p50 %s ms, p99 %s ms, max %s ms (min / median)\n",
		mm(h, "p50-ms", 1), mm(h, "p99-ms", 1), mm(h, "max-ms", 1))

	fmt.Println()
	fmt.Println("4. Refresh economy (virtual time, fake Informatica, 10-minute job, default polling)")
	for _, e := range economy {
		fmt.Println("  " + e)
	}
	fmt.Println("  download finished -> new snapshot served (parse, billing periods, merge with the served table, first render):")
	for _, c := range []struct{ name, what string }{
		{"first", "first refresh, 1M rows"},
		{"full", "full refresh, 1M rows replacing 1M entries"},
		{"incremental", "3-day window, 6,000 rows merged into 1M entries"},
	} {
		n := "BenchmarkDownloadToSnapshot/" + c.name
		fmt.Printf("    %s: %s ms (min / median, wall), peak heap %s MiB\n", c.what, mm(n, "ns/op", 1e-6), val(n, "peak-heap-MiB"))
	}

	fmt.Println()
	fmt.Println("5. Idle cost")
	for _, i := range idle {
		fmt.Println("  " + i)
	}

	printReload(b, mm)
}

// printReload prints the sections of the reload and the restart; mm is
// "min / median" of a figure.
func printReload(b bench, mm func(name, unit string, scale float64) string) {
	fmt.Println()
	fmt.Println("6. Reload: /metrics scraped every 100 ms (50x40 orgs x meters served) while a reload adds an account")
	fmt.Println("   with a 1M-row stored state; one exporter per run, scrapes without and during the reload in that run (min / median)")
	fmt.Println("   (control: the slowest scrape without a reload over the same p50, the machine's own noise)")
	fmt.Println("| runs | p50 without reload ms | slowest during reload ms | slowest / p50 | control: slowest without / p50 | reload ms | scrapes during |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|")
	r := "BenchmarkReloadScrape"
	fmt.Printf("| %d | %s | %s | %sx | %sx | %s | %s |\n", b.runs(r, "x-p50"), mm(r, "p50-ms", 1), mm(r, "max-reload-ms", 1),
		mm(r, "x-p50", 1), mm(r, "x-p50-before", 1), mm(r, "apply-ms", 1), mm(r, "scrapes", 1))
	rx, _ := b.get(r, "x-p50")
	fmt.Printf("  target slowest scrape during the reload <= 2x p50 without: median %sx, %s\n", num(rx), verdict(rx > 0 && rx <= 2))

	fmt.Println()
	fmt.Println("7. Restart: a new process on the same --storage.path (asset and task breakdowns on) until its /metrics")
	fmt.Println("   holds every data series the first process served; one restart per run (min / median)")
	rs := "BenchmarkRestartFirstScrape"
	fmt.Printf("  %d runs: %s ms from the start of the process, %s series\n", b.runs(rs, "first-scrape-ms"), mm(rs, "first-scrape-ms", 1), num(med(b, rs, "series")))
	fs, _ := b.get(rs, "first-scrape-ms")
	fmt.Printf("  target every series served within 3 s of the restart: median %s ms, %s\n", num(fs), verdict(fs > 0 && fs <= 3000))
}

// verdict says whether a target was met.
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// med is the median of a figure, 0 when there is none.
func med(b bench, name, unit string) float64 {
	v, _ := b.get(name, unit)
	return v
}

// num prints a figure with three significant digits.
func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100 || v <= -100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10 || v <= -10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case v >= 1 || v <= -1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
