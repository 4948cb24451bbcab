package informatica

import (
	"strings"
	"unicode"
)

// MeterResolver finds the meter of a job-level file that names none in its
// rows, from its file name (TaskRow.MeterHint), among known meters (those
// of a SUMMARY export). That files are named after their meter is inferred
// from the exports seen, not documented (iics-metering-api.md §5.5).
type MeterResolver struct {
	meters []normalizedMeter
	found  map[string]string // hint to meter ID, "" when none matches
	// unresolved are the hints no meter matches, in the order met, each
	// once: one warning per file name and run, not per row.
	unresolved []string
}

type normalizedMeter struct{ id, name string }

// NewMeterResolver returns a resolver that knows no meter yet.
func NewMeterResolver() *MeterResolver {
	return &MeterResolver{found: map[string]string{}}
}

// Add makes a meter known. Among meters that match a hint equally well the
// one added first wins, so that the result does not depend on map order.
func (r *MeterResolver) Add(id, name string) {
	if n := normalizeMeterName(name); n != "" {
		r.meters = append(r.meters, normalizedMeter{id: id, name: n})
	}
}

// Resolve matches a hint: a meter whose normalized name is the hint's
// first, else the meter with the longest name the hint contains
// ("Data Integration Elastic" over "Data Integration").
func (r *MeterResolver) Resolve(hint string) (id string, ok bool) {
	if id, ok := r.found[hint]; ok {
		return id, id != ""
	}
	n := normalizeMeterName(hint)
	var best normalizedMeter
	for _, m := range r.meters {
		if m.name == n {
			best = m
			break
		}
		if strings.Contains(n, m.name) && len(m.name) > len(best.name) {
			best = m
		}
	}
	hint = strings.Clone(hint)
	r.found[hint] = best.id
	if best.id == "" {
		r.unresolved = append(r.unresolved, hint)
	}
	return best.id, best.id != ""
}

// Unresolved returns the hints Resolve matched to no meter, each once, in
// the order first met.
func (r *MeterResolver) Unresolved() []string { return r.unresolved }

// normalizeMeterName folds case and keeps only letters and digits, so that
// "Data_Integration-Elastic" and "Data Integration Elastic" compare equal.
func normalizeMeterName(s string) string {
	var b strings.Builder
	for _, c := range s {
		if unicode.IsLetter(c) || unicode.IsDigit(c) {
			b.WriteRune(unicode.ToLower(c))
		}
	}
	return b.String()
}
