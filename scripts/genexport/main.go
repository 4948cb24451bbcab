// Command genexport writes synthetic summary export ZIPs, the inputs of the
// parse benchmarks: see package internal/exportgen for their exact content.
//
//	go run ./scripts/genexport -dir /tmp/exports -rows 10000,100000,1000000
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/ipumon/informatica_exporter/internal/exportgen"
)

func main() {
	dir := flag.String("dir", ".", "folder to write the ZIPs to")
	rows := flag.String("rows", "10000,100000,1000000", "comma-separated row counts, one ZIP each")
	orgs := flag.Int("orgs", 50, "orgs")
	meters := flag.Int("meters", 40, "meters, one CSV file each")
	combined := flag.Bool("combined", false, "one combined CSV file instead of one per meter")
	flag.Parse()
	for _, r := range strings.Split(*rows, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "genexport: bad row count %q\n", r)
			os.Exit(2)
		}
		spec := exportgen.Spec{Rows: n, Orgs: *orgs, Meters: *meters, Combined: *combined}
		path, err := exportgen.Cached(*dir, spec)
		if err != nil {
			fmt.Fprintln(os.Stderr, "genexport:", err)
			os.Exit(1)
		}
		st, _ := os.Stat(path)
		fmt.Printf("%s rows=%d days=%d orgs=%d meters=%d bytes=%d\n", path, n, spec.Days(), *orgs, *meters, st.Size())
	}
}
