package collector

import (
	"cmp"
	"slices"
	"sync"

	"github.com/ipumon/informatica_exporter/informatica"
)

// partsBuilder builds the table of an export read in parts at the same
// time (informatica.ReadUsageZIPParts): each part into a Builder of its
// own, joined into b in file order once a ZIP is read.
type partsBuilder struct {
	b *Builder
	// filter wraps each part's Add, as account.usable does.
	filter func(add func(*informatica.UsageRow) error) func(*informatica.UsageRow) error

	mu    sync.Mutex
	parts []builtPart
}

type builtPart struct {
	entry, chunk int
	b            *Builder
}

func newPartsBuilder(b *Builder, filter func(func(*informatica.UsageRow) error) func(*informatica.UsageRow) error) *partsBuilder {
	return &partsBuilder{b: b, filter: filter}
}

func (p *partsBuilder) Part(entry, chunk int) func(*informatica.UsageRow) error {
	b := NewBuilder()
	p.mu.Lock()
	p.parts = append(p.parts, builtPart{entry, chunk, b})
	p.mu.Unlock()
	return p.filter(b.Add)
}

func (p *partsBuilder) Join() {
	p.mu.Lock()
	defer p.mu.Unlock()
	slices.SortFunc(p.parts, func(x, y builtPart) int { return cmp.Or(cmp.Compare(x.entry, y.entry), cmp.Compare(x.chunk, y.chunk)) })
	for _, part := range p.parts {
		p.b.Absorb(part.b)
	}
	p.parts = nil
}
