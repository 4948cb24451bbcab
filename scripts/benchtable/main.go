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

var cpuSuffix = regexp.MustCompile(`-\d+$`)

func main() {
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "Usage: benchtable < OUTPUT\n\nReads the output of scripts/bench.sh's benchmarks on standard input and prints the table of BENCHMARKS.md.")
	}
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
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}

	fmt.Println("Machine")
	for _, m := range machine {
		fmt.Println("  " + m)
	}

	fmt.Println()
	fmt.Println("1. Parse: generated per-meter export ZIP -> per-day table (50 orgs, 40 meters), against inflating the same ZIP to io.Discard")
	fmt.Println("| rows | inflate ms | parse ms | parse/inflate | parse CPU/inflate CPU | parse ns/row | allocs/row | peak heap MiB | table MiB | parser heap MiB |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	sizes := []string{"10000", "100000", "1000000"}
	var nsRow, parserHeap []float64
	maxAllocs := 0.0
	for _, rows := range sizes {
		n := "BenchmarkParse/rows=" + rows
		inflate, _ := b.get(n, "inflate-ns/op")
		parse, _ := b.get(n, "ns/op")
		r, _ := b.get(n, "ns/row")
		a, _ := b.get(n, "allocs/row")
		ph, _ := b.get(n, "parser-heap-MiB")
		nsRow, parserHeap = append(nsRow, r), append(parserHeap, ph)
		maxAllocs = max(maxAllocs, a)
		fmt.Printf("| %s | %s | %s | %sx | %sx | %s | %s | %s | %s | %s |\n", rows, num(inflate/1e6), num(parse/1e6),
			val(n, "x-inflate"), val(n, "cpu-x-inflate"), num(r), num(a), val(n, "peak-heap-MiB"), val(n, "table-MiB"), num(ph))
	}
	big := "BenchmarkParse/rows=1000000"
	x, _ := b.get(big, "x-inflate")
	peak, _ := b.get(big, "peak-heap-MiB")
	fmt.Printf("  target parse <= 2x inflate at 1M rows: %sx, %s\n", num(x), verdict(x > 0 && x <= 2))
	fmt.Printf("  target < 1 heap allocation per row: at most %s, %s\n", num(maxAllocs), verdict(maxAllocs < 1))
	fmt.Printf("  target peak heap < 64 MiB at 1M rows: %s MiB, %s\n", num(peak), verdict(peak > 0 && peak < 64))
	if len(nsRow) == 3 && nsRow[0] > 0 {
		fmt.Printf("  time linear in rows: ns/row %s, %s, %s (1M over 10k: %sx)\n", num(nsRow[0]), num(nsRow[1]), num(nsRow[2]), num(nsRow[2]/nsRow[0]))
		fmt.Printf("  parser memory flat: %s, %s, %s MiB from 10k to 1M rows (the table grows with the rows: see table MiB)\n",
			num(parserHeap[0]), num(parserHeap[1]), num(parserHeap[2]))
	}
	fmt.Printf("  CSV reader alone, 100k rows in memory: %s ns/row; encoding/csv splitting the same records: %s ns/row\n",
		val("BenchmarkReadUsageCSV/ReadUsageCSV", "ns/row"), val("BenchmarkReadUsageCSV/encoding_csv", "ns/row"))

	fmt.Println()
	fmt.Println("2. Scrape: 50 orgs x 40 meters")
	s := "BenchmarkScrape"
	scrape, _ := b.get(s, "ns/op")
	encode, _ := b.get(s, "encode-ns/op")
	xe, _ := b.get(s, "x-encode")
	fmt.Printf("  series %s, body %s bytes\n", val(s, "series"), val(s, "body-bytes"))
	fmt.Printf("  registry gather + text encoding %s ms; encoding the gathered families alone %s ms: %sx, target <= 2x %s\n",
		num(scrape/1e6), num(encode/1e6), num(xe), verdict(xe > 0 && xe <= 2))
	h := "BenchmarkScrapeHTTP"
	fmt.Printf("  /metrics over HTTP, 8 concurrent scrapers, gzip: p50 %s ms, p99 %s ms, max %s ms\n",
		val(h, "p50-ms"), val(h, "p99-ms"), val(h, "max-ms"))

	fmt.Println()
	fmt.Println("3. Refresh economy (virtual time, fake Informatica, 10-minute job, default polling)")
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
		d, _ := b.get(n, "ns/op")
		fmt.Printf("    %s: %s ms, peak heap %s MiB\n", c.what, num(d/1e6), val(n, "peak-heap-MiB"))
	}

	fmt.Println()
	fmt.Println("4. Idle cost")
	for _, i := range idle {
		fmt.Println("  " + i)
	}
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
