// Package usage holds one account's usage, per org, meter and day: the
// Table an export's rows are built into, how a fresh export merges into
// what was known, and the view of it the gauges show at an instant. It
// knows nothing of Prometheus.
package usage

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
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
// whole months or years, so a last day written as a date never falls on the
// start's day of the month. An end at any other time of day names its last
// day whatever that is; Table.Each writes periods that way (periodEnd), so
// that reading its rows again gives the same period.
func canonicalPeriod(start, end time.Time) (int64, int64) {
	start, end = start.UTC(), end.UTC()
	first := StartOfDay(start)
	last := StartOfDay(end)
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

func (a dayAttr) period() (BillingPeriod, bool) {
	return BillingPeriod{a.start, a.end}, a.start != 0 || a.end != 0
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

// DayNumber returns the day t falls on, counted from 1970-01-01 UTC.
func DayNumber(t time.Time) int32 {
	return int32(floorDiv(t.Unix(), secondsPerDay))
}

// DayTime returns 00:00 UTC of day d, counted from 1970-01-01 UTC.
func DayTime(d int32) time.Time {
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
// and day are summed, as design.md asks: the IPUs and usage add up, in the
// order the rows came, the billing period is the first row's that has one,
// the rate the last row's that has one.
//
// Its memory follows the rows, whatever their shape. Entries go, in the
// order they come, into one arena of blocks that every series shares: 28
// bytes an entry (24 of them the entry, 4 the index of its series), and at
// most one block not full. No series reserves room for days it may never
// get, so neither a long series before many short ones nor millions of
// one-row series cost more than their rows. A row for the same day as its
// series' last entry adds to it while the series' days have come in order;
// any other row is an entry of its own. Table puts the entries in order with
// one counting sort by series into the table's exact-size slice, sorts the
// few series whose days came out of order, and sums their repeated days in
// the order the rows came.
type Builder struct {
	maxSeries int // 0 for no limit
	orgs      map[string]int32
	meters    map[string]int32
	series    seriesIndex
	ser       chunks[buildSeries]
	orgList   chunks[OrgInfo]
	mtrList   chunks[MeterInfo]
	// orgSrc and mtrSrc hold, for each org and meter, the strings of the
	// last row that named it, equal to orgList's and mtrList's: the
	// reader hands the same strings row after row, which compare equal
	// by pointer, while the copies kept in orgList and mtrList would be
	// compared byte by byte.
	orgSrc chunks[OrgInfo]
	mtrSrc chunks[MeterInfo]
	attrs  []dayAttr
	attrIx map[dayAttr]uint32
	// The series of the last row, and the last attributes looked up:
	// consecutive rows mostly share them.
	lastSeries int32
	// predicted is the series most likely to come next: the one whose
	// entry followed, in the arena, the entry before the last row's. An
	// export lists the same series in the same order day after day, so
	// the arena holds yesterday's order; -1 when there is none.
	predicted  int32
	lastAttr   dayAttr
	lastAttrIx uint32
	// The last billing period converted: rows repeat it, and
	// canonicalPeriod is a good part of what a row costs.
	lastPeriodIn  [2]time.Time
	lastPeriodOut [2]int64
	// blocks are the arena, each of at most chunkSize entries: entry k of
	// block j has the index j*chunkSize+k. entries is how many it holds.
	blocks  []*block
	entries int
	table   *Table // what Table returned, until the next Add
	// lastLost is set while Table has used each series' last as its
	// scratch: reopen finds them again in the arena.
	lastLost bool
}

// block is a part of the arena: entries and the index of their series.
type block struct {
	cells []cell
	ser   []int32
}

// chunkSize is the number of entries in a block of the arena and of items
// in a chunk of chunks.
const chunkSize = 4096

// chunks is a list kept in chunks of chunkSize items, so that it grows
// without copies: a slice grown by append leaves its old arrays behind,
// in all four times its final size at append's 1.25x steps, and what it
// left since the last collection adds to the peak. The first chunk grows
// as it fills, so that a small builder stays small; the others are made
// whole.
type chunks[T any] struct {
	c [][]T
	n int32
}

func (l *chunks[T]) at(i int32) *T { return &l.c[i/chunkSize][i%chunkSize] }

// push appends v and returns its index.
func (l *chunks[T]) push(v T) int32 {
	i := l.n
	if i%chunkSize == 0 {
		l.c = append(l.c, make([]T, 0, min(chunkSize, max(16, 2*int(i)))))
	}
	c := &l.c[len(l.c)-1]
	*c = append(*c, v)
	l.n++
	return i
}

// flat returns the items in one slice of the exact length.
func (l *chunks[T]) flat() []T {
	out := make([]T, 0, l.n)
	for _, c := range l.c {
		out = append(out, c...)
	}
	return out
}

type buildSeries struct {
	org, meter int32
	// last is the arena index of its most recent entry (noEntry while it
	// has none), with seriesUnordered set once a day came that was not
	// after the one before. 12 bytes a series: when every row is a series
	// of its own, they are most of what the builder holds beyond the rows,
	// so the guess of the series that comes next is read from the arena
	// (Builder.predicted) rather than kept here.
	last uint32
}

const (
	seriesUnordered = 1 << 31
	noEntry         = seriesUnordered - 1
)

// lastEntry is the index of the series' most recent entry, or -1.
func (s *buildSeries) lastEntry() int32 {
	if i := s.last &^ seriesUnordered; i != noEntry {
		return int32(i)
	}
	return -1
}

func (s *buildSeries) ordered() bool { return s.last&seriesUnordered == 0 }

// setLast makes entry i the most recent one, keeping seriesUnordered.
func (s *buildSeries) setLast(i int32) { s.last = s.last&seriesUnordered | uint32(i) }

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
		attrIx:     map[dayAttr]uint32{},
		lastSeries: -1,
		predicted:  -1,
		maxSeries:  MaxSeries,
	}
	b.attrIndex(dayAttr{}) // index 0: no period, no rate
	return b
}

// Rows is the number of distinct org, meter and day entries so far.
func (b *Builder) Rows() int {
	return len(b.Table().Days)
}

func (b *Builder) serAt(i int32) *buildSeries { return b.ser.at(i) }

func (b *Builder) cellAt(i int32) *cell { return &b.blocks[i/chunkSize].cells[i%chunkSize] }

// Add folds one export row into the table. The builder copies the few
// distinct strings it keeps into its table, and until it is dropped it may
// hold on to the row's strings, which, as Go strings are, must stay as they
// are.
func (b *Builder) Add(r *informatica.UsageRow) error {
	if b.table != nil {
		b.reopen()
	}
	i := b.seriesOf(r)
	if i < 0 {
		return errTooManySeries
	}
	s := b.serAt(i)
	day := DayNumber(r.Date)
	var ra dayAttr
	if !r.BillingPeriodStart.IsZero() && !r.BillingPeriodEnd.IsZero() {
		// == on time.Time is stricter than Equal (same location too),
		// which is all a cache needs.
		if in := [2]time.Time{r.BillingPeriodStart, r.BillingPeriodEnd}; in != b.lastPeriodIn {
			b.lastPeriodOut[0], b.lastPeriodOut[1] = canonicalPeriod(in[0], in[1])
			b.lastPeriodIn = in
		}
		ra.start, ra.end = b.lastPeriodOut[0], b.lastPeriodOut[1]
	}
	if r.HasIPURate {
		ra.rate, ra.hasRate = math.Float64bits(r.IPURate), true
	}
	var attr uint32
	prev := s.lastEntry()
	if prev >= 0 {
		last := b.cellAt(prev)
		switch {
		case s.ordered() && last.day == day:
			// The entry holds every earlier row of the day: adding to it
			// is adding in the order the rows came.
			b.merge(last, r, ra)
			return nil
		case last.day >= day:
			s.last |= seriesUnordered
		}
		// A series' period and rate mostly stay those of its day before,
		// while the rows in between, of other series, may differ.
		if attr = last.attr; b.attrs[attr] != ra {
			attr = b.attrIndex(ra)
		}
	} else {
		attr = b.attrIndex(ra)
	}
	k := b.push(i, cell{day: day, attr: attr, ipu: r.IPU, usage: r.MeterUsage})
	b.serAt(i).setLast(k)
	b.predicted = -1
	if prev >= 0 {
		b.predicted = b.seriesAfter(prev)
	}
	return nil
}

// seriesAfter returns the series of the arena's entry after entry k, or -1.
func (b *Builder) seriesAfter(k int32) int32 {
	k++
	// Absorb may leave a block not full before others.
	if j, n := int(k/chunkSize), int(k%chunkSize); j < len(b.blocks) && n < len(b.blocks[j].ser) {
		return b.blocks[j].ser[n]
	}
	return -1
}

// reopen makes the builder ready for rows after Table: the table stays as
// it was, and each series' last, Table's scratch, is found in the arena.
func (b *Builder) reopen() {
	b.table = nil
	if !b.lastLost {
		return
	}
	b.lastLost = false
	for i := range b.ser.n {
		s := b.serAt(i)
		s.last = s.last&seriesUnordered | noEntry
	}
	for j, blk := range b.blocks {
		for k, i := range blk.ser {
			b.serAt(i).setLast(int32(j*chunkSize + k))
		}
	}
}

// push appends an entry of series i to the arena and returns its index.
func (b *Builder) push(i int32, c cell) int32 {
	n := len(b.blocks)
	if n == 0 || len(b.blocks[n-1].cells) == chunkSize {
		blk := &block{}
		if n > 0 {
			// The first block grows as it fills, so that a small builder
			// stays small; the others are made whole.
			blk.cells, blk.ser = make([]cell, 0, chunkSize), make([]int32, 0, chunkSize)
		}
		b.blocks = append(b.blocks, blk)
		n++
	}
	blk := b.blocks[n-1]
	blk.cells = append(blk.cells, c)
	blk.ser = append(blk.ser, i)
	b.entries++
	return int32((n-1)*chunkSize + len(blk.cells) - 1)
}

// reserveBlock makes an empty builder's first block whole, for a builder
// known to get thousands of rows.
func (b *Builder) reserveBlock() {
	if len(b.blocks) == 0 {
		b.blocks = append(b.blocks, &block{cells: make([]cell, 0, chunkSize), ser: make([]int32, 0, chunkSize)})
	}
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
	// day, so the predicted series, or the last row's again, is most
	// likely this row's: two string comparisons instead of three map
	// lookups.
	if last := b.lastSeries; last >= 0 {
		for _, i := range [2]int32{b.predicted, last} {
			if i < 0 {
				continue
			}
			s := b.serAt(i)
			if r.OrgID == b.orgSrc.at(s.org).ID && r.MeterID == b.mtrSrc.at(s.meter).ID {
				b.updateOrg(s.org, r)
				b.updateMeter(s.meter, r)
				b.lastSeries = i
				return i
			}
		}
	}
	org, meter := b.org(r), b.meter(r)
	i := b.seriesIndex(org, meter, b.maxSeries)
	if i >= 0 {
		b.lastSeries = i
	}
	return i
}

// MaxSeries bounds the series (org and meter pairs) of one export. Its
// orgs are the production org and the orgs linked to it, its meters
// Informatica's services, some dozens (iics-metering-api.md §7.1): 50,000
// is a thousand orgs using 50 meters each, beyond any account. More is
// hostile or broken input, whose labels would fill the memory and every
// scrape.
const MaxSeries = 50_000

var errTooManySeries = fmt.Errorf("more than %d series (org and meter pairs), the limit on one export (usage.MaxSeries)", MaxSeries)

// seriesIndex returns the series of an org and a meter, new if need be;
// -1 when a new one would pass limit (none when 0).
func (b *Builder) seriesIndex(org, meter int32, limit int) int32 {
	if b.series.n < int(b.ser.n) {
		// Table borrowed the index's memory: it is made again.
		b.series.rebuild(b)
	}
	slot, i := b.series.find(b, org, meter)
	if i >= 0 {
		return i
	}
	if limit > 0 && int(b.ser.n) >= limit {
		return -1
	}
	i = b.ser.push(buildSeries{org: org, meter: meter, last: noEntry})
	b.series.insert(b, slot, i)
	return i
}

// seriesIndex finds a series by org and meter: an open-addressing hash
// table of series indexes plus one, 4 bytes a slot, at most 3/4 full. A
// Go map of the same keys costs 4 to 8 times as much, which matters when
// every row is a series of its own.
type seriesIndex struct {
	slots []int32
	n     int
	shift uint
}

func seriesHash(org, meter int32) uint64 {
	return (uint64(uint32(org))<<32 | uint64(uint32(meter))) * 0x9E3779B97F4A7C15
}

// find returns the series of org and meter, or -1 and the slot to insert
// it in.
func (x *seriesIndex) find(b *Builder, org, meter int32) (int, int32) {
	if len(x.slots) == 0 {
		return -1, -1
	}
	mask := len(x.slots) - 1
	for k := int(seriesHash(org, meter) >> x.shift); ; k = (k + 1) & mask {
		v := x.slots[k]
		if v == 0 {
			return k, -1
		}
		if s := b.serAt(v - 1); s.org == org && s.meter == meter {
			return k, v - 1
		}
	}
}

func (x *seriesIndex) insert(b *Builder, slot int, i int32) {
	if slot < 0 || 4*(x.n+1) > 3*len(x.slots) {
		x.grow(b)
		slot, _ = x.find(b, b.serAt(i).org, b.serAt(i).meter)
	}
	x.slots[slot] = i + 1
	x.n++
}

// rebuild indexes every series of b again.
func (x *seriesIndex) rebuild(b *Builder) {
	size := 64
	for 4*int(b.ser.n) > 3*size {
		size *= 2
	}
	x.slots, x.shift, x.n = make([]int32, size), uint(64-bits.TrailingZeros(uint(size))), int(b.ser.n)
	mask := size - 1
	for i := range b.ser.n {
		s := b.serAt(i)
		k := int(seriesHash(s.org, s.meter) >> x.shift)
		for x.slots[k] != 0 {
			k = (k + 1) & mask
		}
		x.slots[k] = i + 1
	}
}

func (x *seriesIndex) grow(b *Builder) {
	size := max(64, 2*len(x.slots))
	old := x.slots
	x.slots, x.shift = make([]int32, size), uint(64-bits.TrailingZeros(uint(size)))
	mask := size - 1
	for _, v := range old {
		if v == 0 {
			continue
		}
		s := b.serAt(v - 1)
		k := int(seriesHash(s.org, s.meter) >> x.shift)
		for x.slots[k] != 0 {
			k = (k + 1) & mask
		}
		x.slots[k] = v
	}
}

func (b *Builder) org(r *informatica.UsageRow) int32 {
	i := b.orgIndex(r.OrgID)
	b.updateOrg(i, r)
	return i
}

func (b *Builder) orgIndex(id string) int32 {
	i, ok := b.orgs[id]
	if !ok {
		o := OrgInfo{ID: strings.Clone(id)}
		i = b.orgList.push(o)
		b.orgSrc.push(o)
		b.orgs[o.ID] = i
	}
	return i
}

func (b *Builder) updateOrg(i int32, r *informatica.UsageRow) {
	o, src := b.orgList.at(i), b.orgSrc.at(i)
	src.ID = r.OrgID
	updateFrom(&o.Name, &src.Name, r.OrgName)
	updateFrom(&o.Type, &src.Type, r.OrgType)
}

func (b *Builder) meter(r *informatica.UsageRow) int32 {
	i := b.meterIndex(r.MeterID)
	b.updateMeter(i, r)
	return i
}

func (b *Builder) meterIndex(id string) int32 {
	i, ok := b.meters[id]
	if !ok {
		m := MeterInfo{ID: strings.Clone(id)}
		i = b.mtrList.push(m)
		b.mtrSrc.push(m)
		b.meters[m.ID] = i
	}
	return i
}

func (b *Builder) updateMeter(i int32, r *informatica.UsageRow) {
	m, src := b.mtrList.at(i), b.mtrSrc.at(i)
	src.ID = r.MeterID
	updateFrom(&m.Name, &src.Name, r.MeterName)
	updateFrom(&m.Scalar, &src.Scalar, r.Scalar)
	updateFrom(&m.Category, &src.Category, r.MetricCategory)
}

// update keeps the latest non-empty value, copying it only when it changed.
func update(dst *string, v string) {
	if v != "" && v != *dst {
		*dst = strings.Clone(v)
	}
}

// updateFrom is update for a value whose last source string, equal to
// *dst, is *src: a row that hands the same string again costs a pointer
// comparison.
func updateFrom(dst, src *string, v string) {
	if v != *src && v != "" {
		if v != *dst {
			*dst = strings.Clone(v)
		}
		*src = v
	}
}

// Absorb moves the rows of p into b, as if they had been added to b after
// the rows b holds: the builders of the parts of one export, read at the
// same time, are joined this way in file order. p must not be used
// afterwards. A day whose rows lie in several parts is the sum of each
// part's sum, in part order.
func (b *Builder) Absorb(p *Builder) {
	b.reopen()
	p.reopen()
	orgs := make([]int32, p.orgList.n)
	for k := range p.orgList.n {
		o := p.orgList.at(k)
		i := b.orgIndex(o.ID)
		orgs[k] = i
		dst := b.orgList.at(i)
		update(&dst.Name, o.Name)
		update(&dst.Type, o.Type)
		*b.orgSrc.at(i) = *dst
	}
	meters := make([]int32, p.mtrList.n)
	for k := range p.mtrList.n {
		m := p.mtrList.at(k)
		i := b.meterIndex(m.ID)
		meters[k] = i
		dst := b.mtrList.at(i)
		update(&dst.Name, m.Name)
		update(&dst.Scalar, m.Scalar)
		update(&dst.Category, m.Category)
		*b.mtrSrc.at(i) = *dst
	}
	attrs := make([]uint32, len(p.attrs))
	for k, a := range p.attrs {
		attrs[k] = b.attrIndex(a)
	}
	ser := make([]int32, p.ser.n)
	shift := int32(len(b.blocks)) * chunkSize // p's entries come after b's blocks
	for k := range p.ser.n {
		ps := p.serAt(k)
		// Each part kept to the limit: the parts of one export join
		// whatever their sum.
		i := b.seriesIndex(orgs[ps.org], meters[ps.meter], 0)
		ser[k] = i
		pl := ps.lastEntry()
		if pl < 0 {
			continue
		}
		// Whether p's first day comes after b's last is for Table to
		// find: a series is in order when its days are.
		s := b.serAt(i)
		if s.lastEntry() >= 0 || !ps.ordered() {
			s.last |= seriesUnordered
		}
		s.setLast(pl + shift)
	}
	for _, blk := range p.blocks {
		for k := range blk.cells {
			blk.ser[k] = ser[blk.ser[k]]
			blk.cells[k].attr = attrs[blk.cells[k].attr]
		}
	}
	b.blocks = append(b.blocks, p.blocks...)
	b.entries += p.entries
	b.lastSeries, b.predicted = -1, -1
	if p.lastSeries >= 0 {
		b.lastSeries = ser[p.lastSeries]
	}
	*p = Builder{}
}

// increasing reports whether every entry's day is after the one before.
func increasing(days []DayUsage) bool {
	for k := 1; k < len(days); k++ {
		if days[k].Day <= days[k-1].Day {
			return false
		}
	}
	return true
}

// Table returns the rows added so far as a sorted Table. The builder stays
// usable; later rows do not change the returned table. Called again without
// rows added in between, it returns the same table.
func (b *Builder) Table() *Table {
	if b.table != nil {
		return b.table
	}
	// The series index lends its memory to the order of the series (it
	// has a slot for every series) and is made again if rows come after.
	var order []int32
	if len(b.series.slots) >= int(b.ser.n) {
		order = b.series.slots[:b.ser.n]
		b.series = seriesIndex{}
	} else {
		order = make([]int32, b.ser.n)
	}
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(x, y int32) int {
		sx, sy := b.serAt(x), b.serAt(y)
		return cmp.Or(cmp.Compare(sx.org, sy.org), cmp.Compare(sx.meter, sy.meter))
	})
	// A counting sort, in each series' last beside its seriesUnordered
	// (reopen finds last again if rows come after): it counts the
	// series' entries, then is where its next entry goes.
	b.lastLost = true
	for i := range b.ser.n {
		b.serAt(i).last &= seriesUnordered
	}
	for _, blk := range b.blocks {
		for _, i := range blk.ser {
			b.serAt(i).last++
		}
	}
	pos := uint32(0)
	for _, i := range order {
		s := b.serAt(i)
		n := s.last &^ seriesUnordered
		s.last = s.last&seriesUnordered | pos
		pos += n
	}
	days := make([]DayUsage, b.entries)
	for _, blk := range b.blocks {
		for k, c := range blk.cells {
			s := b.serAt(blk.ser[k])
			days[s.last&^seriesUnordered] = DayUsage{Org: s.org, Meter: s.meter, Day: c.day, attr: c.attr, IPU: c.ipu, Usage: c.usage}
			s.last++
		}
	}
	// Series whose days came out of order: sorted, stably, and their
	// repeated days summed in the order the rows came. Entries move down
	// over the ones summed away.
	w, from := 0, 0
	for _, i := range order {
		s := b.serAt(i)
		end := int(s.last &^ seriesUnordered)
		seg := days[from:end]
		from = end
		if s.ordered() || increasing(seg) {
			if w != end-len(seg) { // entries were summed away before
				copy(days[w:], seg)
			}
			w += len(seg)
			continue
		}
		slices.SortStableFunc(seg, func(x, y DayUsage) int { return cmp.Compare(x.Day, y.Day) })
		first := w
		for _, d := range seg {
			if w > first && days[w-1].Day == d.Day {
				p := &days[w-1]
				p.IPU += d.IPU
				p.Usage += d.Usage
				p.attr = b.attrIndex(mergeAttr(b.attrs[p.attr], b.attrs[d.attr]))
				continue
			}
			days[w] = d
			w++
		}
	}
	days = days[:w]
	if w < cap(days)*3/4 {
		days = slices.Clone(days)
	}
	t := &Table{
		Orgs:   b.orgList.flat(),
		Meters: b.mtrList.flat(),
		Days:   days,
		attrs:  slices.Clip(b.attrs),
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

// Each calls fn with every entry of t as an export row. The row is reused
// from one call to the next.
func (t *Table) Each(fn func(*informatica.UsageRow)) {
	var r informatica.UsageRow
	for _, d := range t.Days {
		o, m, a := t.Orgs[d.Org], t.Meters[d.Meter], t.attrs[d.attr]
		r = informatica.UsageRow{
			OrgID: o.ID, OrgName: o.Name, OrgType: o.Type,
			MeterID: m.ID, MeterName: m.Name, Scalar: m.Scalar, MetricCategory: m.Category,
			Date:       DayTime(d.Day),
			MeterUsage: d.Usage, IPU: d.IPU,
		}
		if a.hasRate {
			r.IPURate, r.HasIPURate = a.rateValue(), true
		}
		if _, ok := a.period(); ok {
			r.BillingPeriodStart = time.Unix(a.start, 0).UTC()
			r.BillingPeriodEnd = periodEnd(a.end)
		}
		fn(&r)
	}
}

// periodEnd spells the last day of a period, 00:00 UTC in Unix seconds, as
// its last instant: the one spelling of an end that canonicalPeriod reads
// as that day whatever day of the month the period starts on, so that a
// table's rows, built into a table again (Merge), keep their periods.
func periodEnd(lastDay int64) time.Time {
	return time.Unix(lastDay+secondsPerDay-1, 0).UTC()
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

// StartOfDay returns 00:00 UTC of the day t falls on.
func StartOfDay(t time.Time) time.Time {
	return DayTime(DayNumber(t))
}
