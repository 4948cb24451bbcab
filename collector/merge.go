package collector

import (
	"github.com/ipumon/informatica_exporter/informatica"
)

// coverage says which part of the table an export replaces: the days from
// from to to (day numbers, inclusive), for every org, or with partial only
// for the orgs the export holds. A PARTIAL_SUCCESS export lacks some linked
// orgs; their last good data is kept rather than dropped.
type coverage struct {
	from, to int32
	partial  bool
}

// mergeTables returns old with the days that fresh covers replaced by fresh's
// rows, keeping old's other days. Days before keepFrom are dropped, so that
// the table does not grow without bound. Neither input changes.
func mergeTables(old, fresh *Table, c coverage, keepFrom int32) *Table {
	// Nothing to merge: the fresh table is the result, as it is.
	if first, ok := fresh.firstDay(); old == nil && (!ok || first >= keepFrom) {
		return fresh
	}
	b := NewBuilder()
	freshDays := map[int32]bool{}
	freshOrgs := map[string]bool{}
	fresh.each(func(r *informatica.UsageRow) {
		day := dayNumber(r.Date)
		freshDays[day] = true
		freshOrgs[r.OrgID] = true
		if day >= keepFrom {
			b.Add(r)
		}
	})
	if old != nil {
		old.each(func(r *informatica.UsageRow) {
			day := dayNumber(r.Date)
			// An export may hold days just outside the range it was asked
			// for; those replace the old ones as well, never add to them.
			replaced := (day >= c.from && day <= c.to) || freshDays[day]
			if c.partial && !freshOrgs[r.OrgID] {
				replaced = false
			}
			if !replaced && day >= keepFrom {
				b.Add(r)
			}
		})
	}
	return b.Table()
}
