package collector

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
)

// Table is one account's usage, one entry per org, meter and day: what the
// latest export said. It is never changed after Builder.Table returns it, so
// scrapes read it without locks.
type Table struct {
	Orgs   []OrgInfo
	Meters []MeterInfo
	// Days is sorted by org index, meter index, day.
	Days []DayUsage
}

// OrgInfo describes an org as its rows name it.
type OrgInfo struct {
	ID, Name, Type string
}

// MeterInfo describes a meter as its rows name it.
type MeterInfo struct {
	ID, Name, Scalar, Category string
}

// DayUsage is the sum of an org's rows for one meter and one day.
type DayUsage struct {
	Org, Meter int32 // indexes into Table.Orgs and Table.Meters
	Day        int32 // days since 1970-01-01 UTC
	// PeriodStart and PeriodEnd are the billing period's bounds as reported,
	// in Unix seconds; both 0 when the rows gave none.
	PeriodStart, PeriodEnd int64
	IPU, Usage             float64
	Rate                   float64
	HasRate                bool
}

const secondsPerDay = 86400

// dayNumber returns the day t falls on, counted from 1970-01-01 UTC.
func dayNumber(t time.Time) int32 {
	return int32(floorDiv(t.Unix(), secondsPerDay))
}

func dayTime(d int32) time.Time {
	return time.Unix(int64(d)*secondsPerDay, 0).UTC()
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Builder collects export rows into a Table. Rows for the same org, meter
// and day are summed, as design.md asks.
type Builder struct {
	orgs   map[string]int32
	meters map[string]int32
	cells  map[cellKey]int32
	t      Table
}

type cellKey struct {
	org, meter, day int32
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder {
	return &Builder{
		orgs:   map[string]int32{},
		meters: map[string]int32{},
		cells:  map[cellKey]int32{},
	}
}

// Rows is the number of distinct org, meter and day entries so far.
func (b *Builder) Rows() int { return len(b.t.Days) }

// Add folds one export row into the table. The row's strings may point into
// a reused buffer, so the builder copies the few distinct ones it keeps.
func (b *Builder) Add(r *informatica.UsageRow) error {
	org := b.org(r)
	meter := b.meter(r)
	key := cellKey{org: org, meter: meter, day: dayNumber(r.Date)}
	i, ok := b.cells[key]
	if !ok {
		i = int32(len(b.t.Days))
		b.cells[key] = i
		b.t.Days = append(b.t.Days, DayUsage{Org: org, Meter: meter, Day: key.day})
	}
	c := &b.t.Days[i]
	c.IPU += r.IPU
	c.Usage += r.MeterUsage
	if r.HasIPURate {
		c.Rate, c.HasRate = r.IPURate, true
	}
	if c.PeriodStart == 0 && c.PeriodEnd == 0 && !r.BillingPeriodStart.IsZero() && !r.BillingPeriodEnd.IsZero() {
		c.PeriodStart, c.PeriodEnd = r.BillingPeriodStart.Unix(), r.BillingPeriodEnd.Unix()
	}
	return nil
}

func (b *Builder) org(r *informatica.UsageRow) int32 {
	i, ok := b.orgs[r.OrgID]
	if !ok {
		i = int32(len(b.t.Orgs))
		b.t.Orgs = append(b.t.Orgs, OrgInfo{ID: strings.Clone(r.OrgID)})
		b.orgs[b.t.Orgs[i].ID] = i
	}
	o := &b.t.Orgs[i]
	update(&o.Name, r.OrgName)
	update(&o.Type, r.OrgType)
	return i
}

func (b *Builder) meter(r *informatica.UsageRow) int32 {
	i, ok := b.meters[r.MeterID]
	if !ok {
		i = int32(len(b.t.Meters))
		b.t.Meters = append(b.t.Meters, MeterInfo{ID: strings.Clone(r.MeterID)})
		b.meters[b.t.Meters[i].ID] = i
	}
	m := &b.t.Meters[i]
	update(&m.Name, r.MeterName)
	update(&m.Scalar, r.Scalar)
	update(&m.Category, r.MetricCategory)
	return i
}

// update keeps the latest non-empty value, copying it only when it changed.
func update(dst *string, v string) {
	if v != "" && v != *dst {
		*dst = strings.Clone(v)
	}
}

// Table returns the rows added so far as a sorted Table. The builder stays
// usable; later rows do not change the returned table.
func (b *Builder) Table() *Table {
	t := &Table{
		Orgs:   slices.Clone(b.t.Orgs),
		Meters: slices.Clone(b.t.Meters),
		Days:   slices.Clone(b.t.Days),
	}
	t.sort()
	return t
}

func (t *Table) sort() {
	slices.SortFunc(t.Days, func(a, b DayUsage) int {
		return cmp.Or(cmp.Compare(a.Org, b.Org), cmp.Compare(a.Meter, b.Meter), cmp.Compare(a.Day, b.Day))
	})
}

// orgRanges calls fn with each org's slice of Days.
func (t *Table) orgRanges(fn func(org int32, days []DayUsage)) {
	for start := 0; start < len(t.Days); {
		end := start + 1
		for end < len(t.Days) && t.Days[end].Org == t.Days[start].Org {
			end++
		}
		fn(t.Days[start].Org, t.Days[start:end])
		start = end
	}
}

// WithOrgsFrom returns t plus the days of every org that old has and t has
// not. A PARTIAL_SUCCESS export lacks some linked orgs; their last good data
// is kept rather than dropped.
func (t *Table) WithOrgsFrom(old *Table) *Table {
	if old == nil {
		return t
	}
	b := NewBuilder()
	present := map[string]bool{}
	t.each(func(r *informatica.UsageRow) { present[r.OrgID] = true; b.Add(r) })
	old.each(func(r *informatica.UsageRow) {
		if !present[r.OrgID] {
			b.Add(r)
		}
	})
	return b.Table()
}

// each calls fn with every entry of t as an export row.
func (t *Table) each(fn func(*informatica.UsageRow)) {
	var r informatica.UsageRow
	for _, d := range t.Days {
		o, m := t.Orgs[d.Org], t.Meters[d.Meter]
		r = informatica.UsageRow{
			OrgID: o.ID, OrgName: o.Name, OrgType: o.Type,
			MeterID: m.ID, MeterName: m.Name, Scalar: m.Scalar, MetricCategory: m.Category,
			Date:       dayTime(d.Day),
			MeterUsage: d.Usage, IPU: d.IPU, IPURate: d.Rate, HasIPURate: d.HasRate,
		}
		if d.PeriodStart != 0 || d.PeriodEnd != 0 {
			r.BillingPeriodStart = time.Unix(d.PeriodStart, 0).UTC()
			r.BillingPeriodEnd = time.Unix(d.PeriodEnd, 0).UTC()
		}
		fn(&r)
	}
}
