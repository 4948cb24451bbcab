package informatica

import (
	"archive/zip"
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// collectParts gathers each part's rows, to be put in file order.
type collectParts struct {
	mu     sync.Mutex
	parts  map[[2]int][]UsageRow
	joined int
}

func (c *collectParts) Part(entry, chunk int) func(*UsageRow) error {
	k := [2]int{entry, chunk}
	c.mu.Lock()
	if _, dup := c.parts[k]; dup {
		panic(fmt.Sprintf("part %v twice", k))
	}
	c.parts[k] = nil
	c.mu.Unlock()
	var rows []UsageRow
	return func(r *UsageRow) error {
		rows = append(rows, *r)
		c.mu.Lock()
		c.parts[k] = rows
		c.mu.Unlock()
		return nil
	}
}

func (c *collectParts) Join() { c.joined++ }

func (c *collectParts) rows() []UsageRow {
	keys := make([][2]int, 0, len(c.parts))
	for k := range c.parts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]int) int { return cmpInts(a[0], b[0])*2 + cmpInts(a[1], b[1]) })
	var out []UsageRow
	for _, k := range keys {
		out = append(out, c.parts[k]...)
	}
	return out
}

func cmpInts(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// randomCSV writes an export file with what real ones hold and what the
// reader accepts: quoted fields with commas, "" and line breaks, CRLF,
// blank lines, a BOM, bare quotes, and now and then a bad row.
func randomCSV(rng *rand.Rand, rows int, bad bool) []byte {
	var b bytes.Buffer
	if rng.IntN(3) == 0 {
		b.Write(utf8BOM)
	}
	eol := "\n"
	if rng.IntN(3) == 0 {
		eol = "\r\n"
	}
	b.WriteString("OrgId,OrgName,OrgType,MeterId,MeterName,Date,BillingPeriodStartDate,BillingPeriodEndDate,MeterUsage,IPU,IPURate,Scalar,MetricCategory" + eol)
	names := []string{`Acme`, `"Acme, Inc."`, `"Say ""hi"""`, "\"two\nlines\"", "\"cr\r\nlf\"", `5" pipe`, `"bare " quote"`}
	for i := range rows {
		name := names[rng.IntN(len(names))]
		date := fmt.Sprintf("2025-%02d-%02d", 1+rng.IntN(12), 1+rng.IntN(28))
		if bad && rng.IntN(rows) == 0 {
			date = "not a date"
		}
		fmt.Fprintf(&b, "org%d,%s,Sandbox,m%d,Meter %d,%s,2025-01-01,2025-12-31,%d.5,%d,0.25,Units,Cat%s", rng.IntN(9), name, i%7, i%7, date, i, rng.IntN(50), eol)
		if rng.IntN(50) == 0 {
			b.WriteString(eol)
		}
	}
	return b.Bytes()
}

func zipOf(t *testing.T, files map[string][]byte, order []string) []byte {
	var z bytes.Buffer
	zw := zip.NewWriter(&z)
	for _, name := range order {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(files[name])
	}
	zw.Close()
	return z.Bytes()
}

// TestReadUsageZIPPartsReadsWhatReadUsageZIPReads: the parts, put in file
// order, are the rows ReadUsageZIP reads, and errors are the same, whether
// entries are read whole at once or cut into chunks.
func TestReadUsageZIPPartsReadsWhatReadUsageZIPReads(t *testing.T) {
	defer func(c int, w func() int) { chunkBytes, partWorkers = c, w }(chunkBytes, partWorkers)
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 400 {
		files := map[string][]byte{}
		var order []string
		for e := range 1 + rng.IntN(4) {
			name := fmt.Sprintf("f%d.csv", e)
			files[name] = randomCSV(rng, rng.IntN(400), rng.IntN(4) == 0)
			order = append(order, name)
		}
		data := zipOf(t, files, order)
		var want []UsageRow
		wantN, wantErr := ReadUsageZIP(bytes.NewReader(data), int64(len(data)), DefaultLimits, func(r *UsageRow) error {
			want = append(want, *r)
			return nil
		})
		workers := 1 + rng.IntN(6)
		chunkBytes = 64 + rng.IntN(4096)
		partWorkers = func() int { return workers }
		c := &collectParts{parts: map[[2]int][]UsageRow{}}
		gotN, gotErr := ReadUsageZIPParts(bytes.NewReader(data), int64(len(data)), DefaultLimits, c)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("round %d (%d workers, chunks of %d): error %v, want %v", round, workers, chunkBytes, gotErr, wantErr)
		}
		if wantErr != nil {
			continue
		}
		if gotN != wantN {
			t.Fatalf("round %d (%d workers, %d entries, chunks of %d): %d rows, want %d", round, workers, len(order), chunkBytes, gotN, wantN)
		}
		if got := c.rows(); !slices.Equal(got, want) {
			t.Fatalf("round %d (%d workers, chunks of %d): rows differ: %d, want %d", round, workers, chunkBytes, len(got), len(want))
		}
		if c.joined != 1 {
			t.Fatalf("round %d: Join called %d times", round, c.joined)
		}
	}
}
