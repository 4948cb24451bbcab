package collector

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
)

// Table is one account's usage, one entry per org, meter and day: what the
// latest export said. It is never changed after Builder.Table returns it, so
// scrapes read it without locks.
//
// An export of a large hierarchy has a million entries, so an entry is kept
// small, 32 bytes: its billing period and IPU rate, which repeat from day to
// day, are an index into a list of the distinct ones.
type Table struct {
	Orgs   []OrgInfo
	Meters []MeterInfo
	// Days is sorted by org index, meter index, day.
	Days  []DayUsage
	attrs []dayAttr // indexed by DayUsage.attr
}

// OrgInfo describes an org as its rows name it.
type OrgInfo struct {
	ID, Name, Type string
}

// MeterInfo describes a meter as its rows name it.
type MeterInfo struct {
	ID, Name, Scalar, Category string
}

// DayUsage is the sum of an org's rows for one meter and one day. Its
// billing period and rate are the Table's to tell: see Table.Entry.
type DayUsage struct {
	Org, Meter int32  // indexes into Table.Orgs and Table.Meters
	Day        int32  // days since 1970-01-01 UTC
	attr       uint32 // index into Table.attrs: billing period and rate
	IPU, Usage float64
}

// canonicalPeriod spells a billing period one way: 00:00 UTC of its first
// and of its last day. Informatica's files write the end as a date (the last
// day), as the last instant of it (23:59:59), or as the first instant after
// it (00:00 of the next day); all three are the same period, and must compare
// equal when one export mixes them. A midnight end on the same day of the
// month as the start is the first instant after the period: periods run
// whole months or years, so a last day never falls on the start's day of
// the month.
func canonicalPeriod(start, end time.Time) (int64, int64) {
	start, end = start.UTC(), end.UTC()
	first := startOfDay(start)
	last := startOfDay(end)
	if end.Equal(last) && last.After(first) && last.Day() == first.Day() {
		last = last.AddDate(0, 0, -1)
	}
	return first.Unix(), last.Unix()
}

// dayAttr is what an entry says besides its sums: its billing period and
// its IPU rate.
type dayAttr struct {
	// start and end are 00:00 UTC of the billing period's first and last
	// day (see canonicalPeriod), in Unix seconds; both 0 when the rows gave
	// none.
	start, end int64
	rate       uint64 // math.Float64bits of the rate, valid when hasRate
	hasRate    bool
}

func (a dayAttr) period() (billingPeriod, bool) {
	return billingPeriod{a.start, a.end}, a.start != 0 || a.end != 0
}

func (a dayAttr) rateValue() float64 { return math.Float64frombits(a.rate) }

// Entry is an entry of a Table written out in full.
type Entry struct {
	Org, Meter int32 // indexes into Table.Orgs and Table.Meters
	Day        int32 // days since 1970-01-01 UTC
	// PeriodStart and PeriodEnd are 00:00 UTC of the billing period's first and last day,
	// in Unix seconds; both 0 when the rows gave none.
	PeriodStart, PeriodEnd int64
	IPU, Usage             float64
	Rate                   float64
	HasRate                bool
}

// Entry returns Days[i] in full.
func (t *Table) Entry(i int) Entry {
	d := t.Days[i]
	a := t.attrs[d.attr]
	e := Entry{Org: d.Org, Meter: d.Meter, Day: d.Day, PeriodStart: a.start, PeriodEnd: a.end, IPU: d.IPU, Usage: d.Usage}
	if a.hasRate {
		e.Rate, e.HasRate = a.rateValue(), true
	}
	return e
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
// and day are summed, as design.md asks: the IPUs and usage add up, the
// billing period is the first row's that has one, the rate the last row's
// that has one.
//
// Rows are kept per org and meter (a series), in the order they come, 24
// bytes an entry. Exports list each series' days in order, so a row either
// adds to the last entry of its series or follows it; a row out of order is
// appended too, and the series is sorted and its repeated days summed later,
// in the order the rows came. Table copies the series into one sorted slice.
type Builder struct {
	orgs    map[string]int32
	meters  map[string]int32
	series  map[uint64]int32 // org<<32 | meter -> index into ser
	ser     []buildSeries
	orgList []OrgInfo
	mtrList []MeterInfo
	attrs   []dayAttr
	attrIx  map[dayAttr]uint32
	// The series of the last row, and the last attributes looked up:
	// consecutive rows mostly share them.
	lastSeries int32
	lastAttr   dayAttr
	lastAttrIx uint32
	// hint is the longest series so far: a new series reserves that much,
	// since an export's series mostly cover the same days.
	hint  int
	table *Table // what Table returned, until the next Add
}

type buildSeries struct {
	org, meter int32
	// next is the series that followed this one the last time.
	next int32
	days []cell
	// sorted is false once a day came out of order; compacted is the length
	// when it was last sorted, so that a series of unsorted rows is sorted
	// each time it doubles, not only at the end.
	sorted    bool
	compacted int
}

// cell is an entry while the builder holds it: its series knows its org and
// meter.
type cell struct {
	day        int32
	attr       uint32
	ipu, usage float64
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder {
	b := &Builder{
		orgs:       map[string]int32{},
		meters:     map[string]int32{},
		series:     map[uint64]int32{},
		attrIx:     map[dayAttr]uint32{},
		lastSeries: -1,
	}
	b.attrIndex(dayAttr{}) // index 0: no period, no rate
	return b
}

// Rows is the number of distinct org, meter and day entries so far.
func (b *Builder) Rows() int {
	n := 0
	for i := range b.ser {
		b.compact(&b.ser[i])
		n += len(b.ser[i].days)
	}
	return n
}

// Add folds one export row into the table. The row's strings may point into
// a reused buffer, so the builder copies the few distinct ones it keeps.
func (b *Builder) Add(r *informatica.UsageRow) error {
	b.table = nil
	s := &b.ser[b.seriesOf(r)]
	day := dayNumber(r.Date)
	var ra dayAttr
	if !r.BillingPeriodStart.IsZero() && !r.BillingPeriodEnd.IsZero() {
		ra.start, ra.end = canonicalPeriod(r.BillingPeriodStart, r.BillingPeriodEnd)
	}
	if r.HasIPURate {
		ra.rate, ra.hasRate = math.Float64bits(r.IPURate), true
	}
	n := len(s.days)
	switch {
	case n > 0 && s.days[n-1].day == day:
		b.merge(&s.days[n-1], r, ra)
		return nil
	case n > 0 && s.days[n-1].day > day && s.sorted:
		if i, found := slices.BinarySearchFunc(s.days, day, func(c cell, d int32) int { return cmp.Compare(c.day, d) }); found {
			b.merge(&s.days[i], r, ra)
			return nil
		}
		s.sorted = false
	}
	if len(s.days) == cap(s.days) && b.hint > len(s.days) {
		s.days = slices.Grow(s.days, b.hint-len(s.days))
	}
	s.days = append(s.days, cell{day: day, attr: b.attrIndex(ra), ipu: r.IPU, usage: r.MeterUsage})
	b.hint = max(b.hint, len(s.days))
	if !s.sorted && len(s.days) >= 2*max(s.compacted, 16) {
		b.compact(s)
	}
	return nil
}

// merge adds a row to an entry.
func (b *Builder) merge(c *cell, r *informatica.UsageRow, ra dayAttr) {
	c.ipu += r.IPU
	c.usage += r.MeterUsage
	if ra != (dayAttr{}) {
		c.attr = b.attrIndex(mergeAttr(b.attrs[c.attr], ra))
	}
}

// mergeAttr is what an entry says after a later row for its day: the first
// billing period given, the last rate given.
func mergeAttr(a, later dayAttr) dayAttr {
	if _, ok := a.period(); !ok {
		a.start, a.end = later.start, later.end
	}
	if later.hasRate {
		a.rate, a.hasRate = later.rate, true
	}
	return a
}

// compact sorts a series whose days came out of order, and sums the entries
// of the same day in the order they came.
func (b *Builder) compact(s *buildSeries) {
	if s.sorted {
		return
	}
	slices.SortStableFunc(s.days, func(x, y cell) int { return cmp.Compare(x.day, y.day) })
	out := s.days[:0]
	for _, c := range s.days {
		if n := len(out); n > 0 && out[n-1].day == c.day {
			p := &out[n-1]
			p.ipu += c.ipu
			p.usage += c.usage
			p.attr = b.attrIndex(mergeAttr(b.attrs[p.attr], b.attrs[c.attr]))
			continue
		}
		out = append(out, c)
	}
	clear(s.days[len(out):])
	s.days = out
	s.sorted, s.compacted = true, len(out)
}

func (b *Builder) attrIndex(a dayAttr) uint32 {
	if a == b.lastAttr && len(b.attrs) > 0 {
		return b.lastAttrIx
	}
	i, ok := b.attrIx[a]
	if !ok {
		i = uint32(len(b.attrs))
		b.attrs = append(b.attrs, a)
		b.attrIx[a] = i
	}
	b.lastAttr, b.lastAttrIx = a, i
	return i
}

func (b *Builder) seriesOf(r *informatica.UsageRow) int32 {
	// Exports list the same orgs and meters in the same order day after
	// day, so the series of the last row, or the one that followed it last
	// time, is most likely this row's: two string comparisons instead of
	// three map lookups.
	if last := b.lastSeries; last >= 0 {
		for _, i := range [2]int32{last, b.ser[last].next} {
			if i < 0 {
				continue
			}
			s := &b.ser[i]
			if r.OrgID == b.orgList[s.org].ID && r.MeterID == b.mtrList[s.meter].ID {
				b.updateOrg(s.org, r)
				b.updateMeter(s.meter, r)
				b.lastSeries = i
				return i
			}
		}
	}
	org, meter := b.org(r), b.meter(r)
	key := uint64(uint32(org))<<32 | uint64(uint32(meter))
	i, ok := b.series[key]
	if !ok {
		i = int32(len(b.ser))
		b.ser = append(b.ser, buildSeries{org: org, meter: meter, sorted: true, next: -1,
			days: make([]cell, 0, max(b.hint, 4))})
		b.series[key] = i
	}
	if b.lastSeries >= 0 {
		b.ser[b.lastSeries].next = i
	}
	b.lastSeries = i
	return i
}

func (b *Builder) org(r *informatica.UsageRow) int32 {
	i, ok := b.orgs[r.OrgID]
	if !ok {
		i = int32(len(b.orgList))
		b.orgList = append(b.orgList, OrgInfo{ID: strings.Clone(r.OrgID)})
		b.orgs[b.orgList[i].ID] = i
	}
	b.updateOrg(i, r)
	return i
}

func (b *Builder) updateOrg(i int32, r *informatica.UsageRow) {
	o := &b.orgList[i]
	update(&o.Name, r.OrgName)
	update(&o.Type, r.OrgType)
}

func (b *Builder) meter(r *informatica.UsageRow) int32 {
	i, ok := b.meters[r.MeterID]
	if !ok {
		i = int32(len(b.mtrList))
		b.mtrList = append(b.mtrList, MeterInfo{ID: strings.Clone(r.MeterID)})
		b.meters[b.mtrList[i].ID] = i
	}
	b.updateMeter(i, r)
	return i
}

func (b *Builder) updateMeter(i int32, r *informatica.UsageRow) {
	m := &b.mtrList[i]
	update(&m.Name, r.MeterName)
	update(&m.Scalar, r.Scalar)
	update(&m.Category, r.MetricCategory)
}

// update keeps the latest non-empty value, copying it only when it changed.
func update(dst *string, v string) {
	if v != "" && v != *dst {
		*dst = strings.Clone(v)
	}
}

// Table returns the rows added so far as a sorted Table. The builder stays
// usable; later rows do not change the returned table. Called again without
// rows added in between, it returns the same table.
func (b *Builder) Table() *Table {
	if b.table != nil {
		return b.table
	}
	order := make([]int32, len(b.ser))
	total := 0
	for i := range b.ser {
		b.compact(&b.ser[i])
		order[i] = int32(i)
		total += len(b.ser[i].days)
	}
	slices.SortFunc(order, func(x, y int32) int {
		sx, sy := &b.ser[x], &b.ser[y]
		return cmp.Or(cmp.Compare(sx.org, sy.org), cmp.Compare(sx.meter, sy.meter))
	})
	t := &Table{
		Orgs:   slices.Clone(b.orgList),
		Meters: slices.Clone(b.mtrList),
		Days:   make([]DayUsage, 0, total),
		attrs:  slices.Clip(b.attrs),
	}
	for _, i := range order {
		s := &b.ser[i]
		for _, c := range s.days {
			t.Days = append(t.Days, DayUsage{Org: s.org, Meter: s.meter, Day: c.day, attr: c.attr, IPU: c.ipu, Usage: c.usage})
		}
	}
	b.table = t
	return t
}

// orgRanges calls fn with each org's run of days, in order.
func orgRanges(days []DayUsage, fn func(days []DayUsage)) {
	for start := 0; start < len(days); {
		org, end := days[start].Org, start+1
		for end < len(days) && days[end].Org == org {
			end++
		}
		fn(days[start:end])
		start = end
	}
}

// meterRanges calls fn with each meter's run of one org's days, in order.
func meterRanges(days []DayUsage, fn func(days []DayUsage)) {
	for start := 0; start < len(days); {
		meter, end := days[start].Meter, start+1
		for end < len(days) && days[end].Meter == meter {
			end++
		}
		fn(days[start:end])
		start = end
	}
}

// each calls fn with every entry of t as an export row.
func (t *Table) each(fn func(*informatica.UsageRow)) {
	var r informatica.UsageRow
	for _, d := range t.Days {
		o, m, a := t.Orgs[d.Org], t.Meters[d.Meter], t.attrs[d.attr]
		r = informatica.UsageRow{
			OrgID: o.ID, OrgName: o.Name, OrgType: o.Type,
			MeterID: m.ID, MeterName: m.Name, Scalar: m.Scalar, MetricCategory: m.Category,
			Date:       dayTime(d.Day),
			MeterUsage: d.Usage, IPU: d.IPU,
		}
		if a.hasRate {
			r.IPURate, r.HasIPURate = a.rateValue(), true
		}
		if _, ok := a.period(); ok {
			r.BillingPeriodStart = time.Unix(a.start, 0).UTC()
			r.BillingPeriodEnd = time.Unix(a.end, 0).UTC()
		}
		fn(&r)
	}
}

// firstDay is the earliest day in t; false when t is empty.
func (t *Table) firstDay() (int32, bool) {
	if len(t.Days) == 0 {
		return 0, false
	}
	first := t.Days[0].Day
	for _, d := range t.Days {
		first = min(first, d.Day)
	}
	return first, true
}
