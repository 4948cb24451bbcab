package usage

import (
	"math"

	"github.com/ipumon/informatica_exporter/informatica"
)

// Coverage says which part of the table an export is authoritative for:
// the days from From to To (day numbers, inclusive), for the orgs the
// export returned, or with All set, for every org. A day the export lacks
// inside that part no longer exists; outside it, the export's rows replace
// only their own org, meter and day.
type Coverage struct {
	From, To int32
	// All is set for a complete full export: an org it no longer returns
	// has no usage from its start Onward. A PARTIAL_SUCCESS export lacks
	// some linked orgs, and an incremental one the orgs without new rows;
	// both leave the data of orgs they did not return as it was.
	All bool
}

// Onward is the last day of a Coverage that reaches from its start to
// whatever the future holds: a refresh exports up to now, so rows dated
// later in an older table (clock skew, restated data) are its to replace.
const Onward = math.MaxInt32

// seriesDay names one entry of a table across tables.
type seriesDay struct {
	org, meter string
	day        int32
}

// Merge returns old with the part that fresh covers replaced by
// fresh's rows, keeping old's other entries. Days before keepFrom are
// dropped, so that the table does not grow without bound. Neither input
// changes.
func Merge(old, fresh *Table, c Coverage, keepFrom int32) *Table {
	// Nothing to merge: the fresh table is the result, as it is.
	if first, ok := fresh.firstDay(); old == nil && (!ok || first >= keepFrom) {
		return fresh
	}
	covered := func(day int32) bool { return day >= c.From && day <= c.To }
	b := NewBuilder()
	// Old and fresh each kept to the limit on one export; their merge
	// keeps every row of both.
	b.maxSeries = 0
	// Without a series limit, the one error Add returns, Add cannot fail.
	add := func(r *informatica.UsageRow) { _ = b.Add(r) }
	freshOrgs := map[string]bool{}
	// Rows outside the coverage are few: a day just outside the range asked
	// for, a correction Informatica attached.
	stray := map[seriesDay]bool{}
	fresh.Each(func(r *informatica.UsageRow) {
		day := DayNumber(r.Date)
		freshOrgs[r.OrgID] = true
		if !covered(day) {
			stray[seriesDay{r.OrgID, r.MeterID, day}] = true
		}
		if day >= keepFrom {
			add(r)
		}
	})
	if old != nil {
		old.Each(func(r *informatica.UsageRow) {
			day := DayNumber(r.Date)
			replaced := covered(day) && (c.All || freshOrgs[r.OrgID])
			if !replaced && len(stray) > 0 {
				replaced = stray[seriesDay{r.OrgID, r.MeterID, day}]
			}
			if !replaced && day >= keepFrom {
				add(r)
			}
		})
	}
	return b.Table()
}
