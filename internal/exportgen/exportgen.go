// Package exportgen writes synthetic summary export ZIPs of any size, in the
// format Informatica's summary export jobs produce, so that anyone can
// reproduce the inputs of the benchmarks in BENCHMARKS.md.
//
// An export of Spec{Rows: n} holds exactly n data rows: Orgs orgs (default
// 50) times Meters meters (default 40) per day, for as many days from First
// (default 2024-01-01) as n needs; the last day is partial when n is not a
// multiple of Orgs*Meters. Every (org, meter, day) appears once, so the
// per-day table built from it has n entries.
//
// The ZIP holds one CSV file per meter, IPU_Usage_<meter name>.csv, as
// Informatica sends when combinedMeterUsage is FALSE (Combined makes one
// IPU_Usage_Summary.csv instead). Each file is deflated, has the documented
// header and column order
//
//	OrgId,MeterId,MeterName,Date,BillingPeriodStartDate,BillingPeriodEndDate,MeterUsage,IPU,Scalar,MetricCategory,OrgName,OrgType,IPURate
//
// and its rows ordered by date, then org. Dates are written 2006-01-02;
// billing periods are calendar months, except every tenth org's, which are
// years starting on its contract date; every fourth org's name has a comma,
// so those rows have a quoted field. The output is a pure function of the
// Spec: the same Spec always gives the same bytes.
package exportgen

import (
	"archive/zip"
	"bufio"
	"encoding/csv"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// Header is the documented SUMMARY header, in the documented order.
var Header = []string{
	"OrgId", "MeterId", "MeterName", "Date", "BillingPeriodStartDate", "BillingPeriodEndDate",
	"MeterUsage", "IPU", "Scalar", "MetricCategory", "OrgName", "OrgType", "IPURate",
}

// Spec describes one export.
type Spec struct {
	Rows     int       // data rows in the whole export
	Orgs     int       // default 50
	Meters   int       // default 40
	First    time.Time // first day with usage, default 2024-01-01
	Combined bool      // one CSV file instead of one per meter
}

func (s Spec) withDefaults() Spec {
	if s.Orgs <= 0 {
		s.Orgs = 50
	}
	if s.Meters <= 0 {
		s.Meters = 40
	}
	if s.First.IsZero() {
		s.First = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return s
}

// Days is the number of days the export covers.
func (s Spec) Days() int {
	s = s.withDefaults()
	per := s.Orgs * s.Meters
	return (s.Rows + per - 1) / per
}

// Last is the last day with usage, 00:00 UTC.
func (s Spec) Last() time.Time {
	s = s.withDefaults()
	return s.First.AddDate(0, 0, max(s.Days()-1, 0))
}

// Org is an org of a generated export.
type Org struct {
	ID, Name, Type string
	Scale          float64
	// Anniversary is the start of an annual contract; zero for monthly
	// billing periods.
	Anniversary time.Time
}

// Meter is a meter of a generated export.
type Meter struct {
	ID, Name, Scalar, Category string
	Rate, Daily                float64
}

var meterKinds = []Meter{
	{Name: "Data Integration", Scalar: "Compute Units", Category: "Data Integration", Rate: 0.06, Daily: 1800},
	{Name: "Data Integration Elastic", Scalar: "Compute Units", Category: "Data Integration", Rate: 0.09, Daily: 650},
	{Name: "Application Integration", Scalar: "Compute Units", Category: "Application Integration", Rate: 0.2, Daily: 240},
	{Name: "Mass Ingestion Files", Scalar: "Data Volume", Category: "Data Ingestion and Replication", Rate: 0.011, Daily: 2100},
	{Name: "Mass Ingestion Database", Scalar: "Data Volume", Category: "Data Ingestion and Replication", Rate: 0.017, Daily: 900},
	{Name: "Advanced Pushdown Optimization", Scalar: "Compute Units", Category: "Data Integration", Rate: 0.12, Daily: 120},
	{Name: "Integration Hub", Scalar: "Events Processed", Category: "Integration Hub", Rate: 0.0004, Daily: 55000},
	{Name: "Data Quality", Scalar: "Compute Units", Category: "Data Quality", Rate: 0.08, Daily: 300},
}

// OrgList returns the orgs of s, in the order rows name them.
func (s Spec) OrgList() []Org {
	s = s.withDefaults()
	types := []string{"Sub-Organization", "Sub-Organization", "Sandbox"}
	out := make([]Org, s.Orgs)
	for i := range out {
		o := Org{ID: id("org", i), Type: types[i%len(types)], Scale: 0.2 + float64(i%7)/5}
		switch {
		case i == 0:
			o.Name, o.Type, o.Scale = "Acme, Inc. Production", "Production", 1
		case i%4 == 0:
			o.Name = fmt.Sprintf("Acme, Division %02d", i)
		default:
			o.Name = fmt.Sprintf("Acme Team %02d", i)
		}
		if i%10 == 9 {
			o.Anniversary = time.Date(2023, time.Month(1+i%12), 1+i%28, 0, 0, 0, 0, time.UTC)
		}
		out[i] = o
	}
	return out
}

// MeterList returns the meters of s, in file order.
func (s Spec) MeterList() []Meter {
	s = s.withDefaults()
	out := make([]Meter, s.Meters)
	for i := range out {
		m := meterKinds[i%len(meterKinds)]
		m.ID = id("meter", i)
		if i >= len(meterKinds) {
			m.Name = fmt.Sprintf("%s %d", m.Name, i/len(meterKinds)+1)
		}
		out[i] = m
	}
	return out
}

// FileName is the name of a meter's CSV file in the ZIP.
func FileName(m Meter) string {
	return "IPU_Usage_" + strings.ReplaceAll(m.Name, " ", "_") + ".csv"
}

// Write writes the export ZIP of s to w.
func Write(w io.Writer, s Spec) error {
	s = s.withDefaults()
	orgs, meters := s.OrgList(), s.MeterList()
	zw := zip.NewWriter(w)
	g := generator{spec: s, orgs: orgs, meters: meters}
	if s.Combined {
		if err := g.file(zw, "IPU_Usage_Summary.csv", -1); err != nil {
			return err
		}
	} else {
		for m := range meters {
			if err := g.file(zw, FileName(meters[m]), m); err != nil {
				return err
			}
		}
	}
	return zw.Close()
}

// WriteFile writes the export of s to path atomically.
func WriteFile(path string, s Spec) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := Write(bw, s); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// Cached returns the path of the export of s in dir, writing it first unless
// an earlier call already did.
func Cached(dir string, s Spec) (string, error) {
	s = s.withDefaults()
	name := fmt.Sprintf("summary-%d-rows-%d-orgs-%d-meters-%s", s.Rows, s.Orgs, s.Meters, s.First.Format("20060102"))
	if s.Combined {
		name += "-combined"
	}
	path := filepath.Join(dir, name+".zip")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return path, WriteFile(path, s)
}

type generator struct {
	spec   Spec
	orgs   []Org
	meters []Meter
}

// file writes the rows of one meter (m < 0: every meter) to a new entry.
func (g *generator) file(zw *zip.Writer, name string, m int) error {
	w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: g.spec.First})
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(Header); err != nil {
		return err
	}
	rec := make([]string, len(Header))
	var buf []byte
	perDay := len(g.orgs) * len(g.meters)
	first, last := 0, len(g.meters)-1
	if m >= 0 {
		first, last = m, m
	}
	for d := 0; d < g.spec.Days(); d++ {
		date := g.spec.First.AddDate(0, 0, d)
		dateText := date.Format(time.DateOnly)
		for o := range g.orgs {
			for mm := first; mm <= last; mm++ {
				if d*perDay+o*len(g.meters)+mm >= g.spec.Rows {
					continue
				}
				org, meter := g.orgs[o], g.meters[mm]
				start, end := fake.BillingPeriod(date, org.Anniversary)
				usage := round(meter.Daily*org.Scale*(0.55+unit(o, mm, d)), 4)
				ipu := round(usage*meter.Rate, 6)
				rec[0], rec[1], rec[2], rec[3] = org.ID, meter.ID, meter.Name, dateText
				rec[4], rec[5] = start.Format(time.DateOnly), end.Format(time.DateOnly)
				buf = strconv.AppendFloat(buf[:0], usage, 'f', -1, 64)
				rec[6] = string(buf)
				buf = strconv.AppendFloat(buf[:0], ipu, 'f', -1, 64)
				rec[7] = string(buf)
				rec[8], rec[9], rec[10], rec[11] = meter.Scalar, meter.Category, org.Name, org.Type
				rec[12] = strconv.FormatFloat(meter.Rate, 'f', -1, 64)
				if err := cw.Write(rec); err != nil {
					return err
				}
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// id returns a 22-character ID like Informatica's, the same for the same
// kind and index.
func id(kind string, i int) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", kind, i)
	x := h.Sum64()
	b := make([]byte, 22)
	for j := range b {
		x = x*6364136223846793005 + 1442695040888963407
		b[j] = alphabet[(x>>33)%uint64(len(alphabet))]
	}
	return string(b)
}

// unit is a deterministic number in [0, 1) for an org, meter and day.
func unit(o, m, d int) float64 {
	x := uint64(o)*0x9E3779B97F4A7C15 ^ uint64(m)*0xC2B2AE3D27D4EB4F ^ uint64(d)*0x165667B19E3779F9
	x ^= x >> 31
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	return float64(x>>11) / (1 << 53)
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}
