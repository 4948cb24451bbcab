package usage

import (
	"cmp"
	"slices"
	"sync"

	"github.com/ipumon/informatica_exporter/informatica"
)

// PartsBuilder builds the table of an export read in parts at the same
// time (informatica.ReadUsageZIPParts): each part into a Builder of its
// own, joined into b in file order once a ZIP is read.
type PartsBuilder struct {
	b *Builder
	// filter wraps each part's Add, as the collector's row filter does.
	filter func(add func(*informatica.UsageRow) error) func(*informatica.UsageRow) error

	mu    sync.Mutex
	parts []builtPart
}

type builtPart struct {
	entry, chunk int
	b            *Builder
}

// NewPartsBuilder returns a PartsBuilder that joins its parts into b, each
// part's rows passing through filter(part.Add).
func NewPartsBuilder(b *Builder, filter func(func(*informatica.UsageRow) error) func(*informatica.UsageRow) error) *PartsBuilder {
	return &PartsBuilder{b: b, filter: filter}
}

// Part returns the function that adds the rows of one part: chunk chunk of
// ZIP entry entry. It may be called from several goroutines.
func (p *PartsBuilder) Part(entry, chunk int) func(*informatica.UsageRow) error {
	b := NewBuilder()
	if chunk > 0 {
		// A chunk after the first is a ~1 MiB cut of a combined CSV,
		// thousands of rows: its first block is made whole rather than
		// grown, copied and grown again.
		b.reserveBlock()
	}
	p.mu.Lock()
	p.parts = append(p.parts, builtPart{entry, chunk, b})
	p.mu.Unlock()
	return p.filter(b.Add)
}

// Join absorbs every part into the builder, in entry then chunk order.
func (p *PartsBuilder) Join() {
	p.mu.Lock()
	defer p.mu.Unlock()
	slices.SortFunc(p.parts, func(x, y builtPart) int { return cmp.Or(cmp.Compare(x.entry, y.entry), cmp.Compare(x.chunk, y.chunk)) })
	for _, part := range p.parts {
		p.b.Absorb(part.b)
	}
	p.parts = nil
}
