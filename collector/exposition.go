package collector

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log/level"
	kflate "github.com/klauspost/compress/flate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Handler serves /metrics as promhttp.HandlerFor(e.Gatherer(reg), opts)
// does, byte for byte, but without rendering the data metrics on every
// scrape: they are encoded once per change, in the text format and in
// OpenMetrics, each also deflated: by the refresher after it publishes a
// snapshot or breakdown, by a timer at a UTC midnight, a period boundary
// or max_age passing, and, as a safety net, by a scrape that finds them
// stale all the same (after a reload, or a clock that jumped). A
// scrape gathers and encodes reg's families (health, Go, process: a few
// hundred series), merges them by name with the encoded data families,
// and writes bytes. Requests the fast path does not cover (protobuf, name[]
// filters, an encoding other than gzip or none, gathering errors) go to
// promhttp, which also negotiates the encoding of every request.
//
// Options that change what promhttp answers beyond the format and gzip
// (no compression, other compressions or formats, created lines, limits,
// timeouts, a start time header) leave every request to promhttp.
func (e *Exporter) Handler(reg prometheus.Gatherer, opts promhttp.HandlerOpts) http.Handler {
	fallback := promhttp.HandlerFor(e.Gatherer(reg), opts)
	if opts.DisableCompression || len(opts.OfferedCompressions) > 0 || len(opts.AcceptedFormats) > 0 ||
		opts.EnableOpenMetricsTextCreatedSamples || opts.MaxRequestsInFlight > 0 || opts.Timeout > 0 ||
		!opts.ProcessStartTime.IsZero() {
		return fallback
	}
	x := &exposition{
		e: e, reg: reg, fallback: fallback, accepted: expfmt.DefaultAcceptedFormats(),
		wake: make(chan struct{}, 1), after: time.After,
	}
	if opts.EnableOpenMetrics {
		x.accepted = expfmt.DefaultOpenMetricsAcceptedFormats()
	}
	e.expo.Store(x)
	return x
}

type exposition struct {
	e        *Exporter
	reg      prometheus.Gatherer
	fallback http.Handler
	accepted []expfmt.Format // what promhttp negotiates with the options given
	// encodings negotiates Accept-Encoding as promhttp does.
	encodings encodingNegotiator

	mu      sync.Mutex // held while encoding
	encoded atomic.Pointer[encodedData]
	// fallbacks counts the requests left to promhttp.
	fallbacks atomic.Int64
	// encodes counts the encodings, by who did them.
	encodes [numEncoders]atomic.Int64
	// wake tells schedule that the encoded data changed.
	wake chan struct{}
	// after is schedule's timer: time.After, or a test's, set before the
	// first encoding starts schedule. It is not the refreshers' timer
	// (WithTimer): tests that step refreshers count their waits.
	after     func(time.Duration) <-chan time.Time
	scheduled sync.Once
}

// Who encodes the data metrics.
const (
	byScrape    = iota // a scrape that found them stale: a safety net
	byRefresher        // a refresher after it published
	byTimer            // schedule, when they expire
	byReload           // Apply, before it publishes new accounts
	numEncoders
)

// encodedData is the data metrics, family by family in name order, in both
// formats, plain and as raw deflate that ends on a byte boundary (a sync
// flush), so that a gzip body is the families' deflate one after the other.
type encodedData struct {
	key []any // what they were encoded from, as dataGatherer keys it
	// expires is the first instant at which key is no longer what the data
	// metrics depend on (a UTC midnight, a billing period boundary,
	// max_age passing); zero when nothing they hold expires.
	expires time.Time
	names   []string
	text    [numFormats][][]byte
	zip     [numFormats][][]byte
	// crc and shift are each family's CRC-32 and its crc32Shift, so that
	// a gzip scrape need not read the text for its checksum.
	crc   [numFormats][]uint32
	shift [numFormats][]*crc32Shift
}

const (
	fmtText = iota
	fmtOpenMetrics
	numFormats
)

// canonical are the formats the data families are encoded in. Their names
// and labels are valid legacy names, so every escaping scheme and version
// of a format renders them alike.
var canonical = [numFormats]expfmt.Format{
	fmtText:        expfmt.NewFormat(expfmt.TypeTextPlain),
	fmtOpenMetrics: expfmt.NewFormat(expfmt.TypeOpenMetrics),
}

// dataKey is what the data metrics depend on at now: for every account,
// the account, its rendering (nil once past max_age; a new one at a UTC
// midnight or period boundary) and its breakdown.
func dataKey(accounts []*account, maxAge time.Duration, now time.Time) []any {
	key := make([]any, 0, 4*len(accounts))
	for _, a := range accounts {
		key = append(key, a, a.rendered(now, maxAge), a.freshBreakdown(now, maxAge), a.contractKey(now, maxAge))
	}
	return key
}

// published is called by a refresher after it published new data, and by
// Apply after the accounts changed: the data metrics are encoded now, on
// its goroutine, rather than by the next scrape. It never waits for a
// lock: a scrape encoding at the same time does the work anyway.
func (e *Exporter) published() {
	x := e.expo.Load()
	if x == nil || !e.mu.TryRLock() {
		return
	}
	accounts, maxAge := e.accounts, e.refresh.MaxAge
	e.mu.RUnlock()
	x.encodeLogged(accounts, maxAge, byRefresher)
}

// expiry is when the data metrics of accounts, as of now, stop being
// what dataKey keys: the first end of a rendering (a UTC midnight or
// period boundary) or of max_age for a snapshot or breakdown. Zero when
// none of them holds anything that expires.
func expiry(accounts []*account, maxAge time.Duration, now time.Time) time.Time {
	var first time.Time
	note := func(t time.Time) {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	// Data is stale once now.Sub(taken) > maxAge: a nanosecond after.
	stale := func(taken time.Time) time.Time { return taken.Add(maxAge + time.Nanosecond) }
	for _, a := range accounts {
		if snap := a.snap.Load(); snap != nil && now.Sub(snap.taken) <= maxAge {
			note(stale(snap.taken))
			if r := snap.rendered.Load(); r != nil && !r.until.IsZero() {
				note(r.until)
			}
		}
		for _, b := range a.freshBreakdown(now, maxAge) {
			if b != nil {
				note(stale(b.taken))
			}
		}
		if t := a.contractExpiry(now, maxAge); !t.IsZero() {
			note(t)
		}
	}
	return first
}

// schedule encodes the data metrics again when they expire, so that the
// first scrape after a UTC midnight, a billing period boundary or max_age
// passing finds them encoded; after is the timer (time.After, or a
// test's). It ends with ctx, or when a newer Handler replaced x. The first
// encoding starts it.
func (x *exposition) schedule(ctx context.Context, after func(time.Duration) <-chan time.Time) {
	for x.e.expo.Load() == x {
		var fire <-chan time.Time
		if d := x.encoded.Load(); d != nil && !d.expires.IsZero() {
			fire = after(max(d.expires.Sub(x.e.now()), 0))
		}
		select {
		case <-ctx.Done():
			return
		case <-x.wake:
		case <-fire:
			accounts, maxAge := x.e.current()
			x.encodeLogged(accounts, maxAge, byTimer)
		}
	}
}

// current returns the encoded data metrics, encoding them again if what
// they depend on changed: schedule and the refreshers see to it that this
// is rare (a reload, a clock set forward, a scrape that raced the timer),
// but expired bytes are never served.
func (x *exposition) current() (*encodedData, error) {
	accounts, maxAge := x.e.current()
	return x.encode(accounts, maxAge, byScrape)
}

// encodeLogged encodes the data metrics ahead of a scrape, logging an
// error, which has no one else to go to: the scrape that finds them
// unencoded encodes them itself or falls back to the registry.
func (x *exposition) encodeLogged(accounts []*account, maxAge time.Duration, by int) {
	if _, err := x.encode(accounts, maxAge, by); err != nil {
		level.Error(x.e.logger).Log("msg", "Cannot encode the data metrics", "err", err)
	}
}

// encode returns the data metrics of accounts as of now, encoding them
// unless what they depend on is unchanged. A refresher gives up (nil)
// when another goroutine is encoding.
func (x *exposition) encode(accounts []*account, maxAge time.Duration, by int) (*encodedData, error) {
	now := x.e.now()
	key := dataKey(accounts, maxAge, now)
	if d := x.encoded.Load(); d != nil && slices.Equal(d.key, key) {
		return d, nil
	}
	if by == byRefresher {
		if !x.mu.TryLock() {
			return nil, nil
		}
	} else {
		x.mu.Lock()
	}
	if by != byScrape && by != byReload {
		// Not on a scrape's goroutine: the gathered families, several times
		// the size of the encoded bytes, are garbage once this returns; hand
		// their memory back to the system rather than keep it in RSS until
		// the scavenger gets to it. After the unlock: a scrape that needs
		// the lock does not wait for a collection of the whole heap.
		defer debug.FreeOSMemory()
	}
	defer x.mu.Unlock()
	if d := x.encoded.Load(); d != nil && slices.Equal(d.key, key) {
		return d, nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectFunc(func(ch chan<- prometheus.Metric) { x.e.collectData(ch, accounts, maxAge, now) }))
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	x.encodes[by].Add(1)
	d := &encodedData{key: key, expires: expiry(accounts, maxAge, now)}
	var buf bytes.Buffer
	zw, _ := kflate.NewWriter(nil, dataDeflateLevel)
	for _, mf := range mfs {
		d.names = append(d.names, mf.GetName())
		for f, format := range canonical {
			buf.Reset()
			if err := expfmt.NewEncoder(&buf, format).Encode(mf); err != nil {
				return nil, err
			}
			plain := bytes.Clone(buf.Bytes())
			d.text[f] = append(d.text[f], plain)
			buf.Reset()
			zw.Reset(&buf)
			if _, err := zw.Write(plain); err != nil {
				return nil, err
			}
			if err := zw.Flush(); err != nil {
				return nil, err
			}
			d.zip[f] = append(d.zip[f], bytes.Clone(buf.Bytes()))
			d.crc[f] = append(d.crc[f], crc32.ChecksumIEEE(plain))
			d.shift[f] = append(d.shift[f], newCRC32Shift(int64(len(plain))))
		}
	}
	x.encoded.Store(d)
	x.scheduled.Do(func() { go x.schedule(x.e.ctx, x.after) })
	select {
	case x.wake <- struct{}{}:
	default:
	}
	return d, nil
}

func (x *exposition) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !x.serve(w, r) {
		x.fallbacks.Add(1)
		x.fallback.ServeHTTP(w, r)
	}
}

// serve answers from the encoded data metrics, or reports false before it
// wrote anything.
func (x *exposition) serve(w http.ResponseWriter, r *http.Request) bool {
	format := expfmt.NegotiateAccept(r.Header, x.accepted...)
	f := -1
	switch format.FormatType() {
	case expfmt.TypeTextPlain:
		f = fmtText
	case expfmt.TypeOpenMetrics:
		f = fmtOpenMetrics
	}
	enc := x.encodings.negotiate(r)
	if f < 0 || enc.failed || (enc.encoding != "" && enc.encoding != "gzip") || r.URL.Query().Has("name[]") {
		return false
	}
	gz := enc.encoding == "gzip"
	data, err := x.current()
	if err != nil {
		return false
	}
	mfs, err := x.reg.Gather()
	if err != nil {
		return false
	}
	// The health families are encoded now; then the families are written
	// in name order, the encoded data families straight from memory.
	type piece struct {
		plain, deflated []byte
		crc             uint32
		shift           *crc32Shift // nil for the health families'
	}
	bufs := getScrapeBuffers(gz)
	defer putScrapeBuffers(bufs)
	health, zhealth, zw := &bufs.health, &bufs.zhealth, bufs.zw
	encode := func(write func(*expfmt.Encoder) error) (piece, error) {
		start := health.Len()
		enc := expfmt.NewEncoder(health, format)
		if err := write(&enc); err != nil {
			return piece{}, err
		}
		p := piece{plain: health.Bytes()[start:]}
		if gz {
			zstart := zhealth.Len()
			zw.Reset(zhealth)
			if _, err := zw.Write(p.plain); err != nil {
				return piece{}, err
			}
			if err := zw.Flush(); err != nil {
				return piece{}, err
			}
			p.deflated = zhealth.Bytes()[zstart:]
		}
		return p, nil
	}
	// Health families next to each other are encoded, and deflated, as one
	// piece: the deflate of a piece cannot refer back across a data family.
	pieces := make([]piece, 0, len(mfs)+len(data.names)+1)
	var run []*dto.MetricFamily
	flush := func() bool {
		if len(run) == 0 {
			return true
		}
		p, err := encode(func(enc *expfmt.Encoder) error {
			for _, mf := range run {
				if err := (*enc).Encode(mf); err != nil {
					return err
				}
			}
			return nil
		})
		run = run[:0]
		pieces = append(pieces, p)
		return err == nil
	}
	i := 0
	for _, mf := range mfs {
		for ; i < len(data.names) && data.names[i] < mf.GetName(); i++ {
			if !flush() {
				return false
			}
			pieces = append(pieces, piece{data.text[f][i], data.zip[f][i], data.crc[f][i], data.shift[f][i]})
		}
		run = append(run, mf)
	}
	if !flush() {
		return false
	}
	for ; i < len(data.names); i++ {
		pieces = append(pieces, piece{data.text[f][i], data.zip[f][i], data.crc[f][i], data.shift[f][i]})
	}
	if f == fmtOpenMetrics {
		p, _ := encode(func(enc *expfmt.Encoder) error {
			if c, ok := (*enc).(expfmt.Closer); ok {
				return c.Close() // # EOF
			}
			return nil
		})
		pieces = append(pieces, p)
	}
	// Pieces cut from a buffer that grew since still hold their bytes: a
	// bytes.Buffer that is never read from only appends.
	size := 0
	for _, p := range pieces {
		if gz {
			size += len(p.deflated)
		} else {
			size += len(p.plain)
		}
	}
	h := w.Header()
	h.Add("Vary", "Accept")
	h.Add("Vary", "Accept-Encoding")
	h.Set("Content-Type", string(format))
	if gz {
		size += len(gzipHeader) + len(gzipEnd) + 8
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(size))
	if r.Method == http.MethodHead {
		return true
	}
	if !gz {
		for _, p := range pieces {
			w.Write(p.plain)
		}
		return true
	}
	w.Write(gzipHeader)
	var crc uint32
	var n uint32
	for _, p := range pieces {
		w.Write(p.deflated)
		if p.shift != nil {
			crc = p.shift.apply(crc) ^ p.crc
		} else {
			crc = crc32.Update(crc, crc32.IEEETable, p.plain)
		}
		n += uint32(len(p.plain))
	}
	trailer := append(slices.Clone(gzipEnd), make([]byte, 8)...)
	binary.LittleEndian.PutUint32(trailer[len(gzipEnd):], crc)
	binary.LittleEndian.PutUint32(trailer[len(gzipEnd)+4:], n)
	w.Write(trailer)
	return true
}

// The deflate levels, chosen by size and cost (BENCHMARKS.md, "gzip body
// size"): the data families are deflated once per change, off the scrape,
// at the level of promhttp's gzip, which their size then matches; the
// health families on every scrape, at the fastest level that finds
// repeats: Huffman coding alone made small scrapes' gzip 2.9x promhttp's.
const (
	dataDeflateLevel   = 6
	healthDeflateLevel = kflate.BestSpeed
)

// scrapeBuffers are what a scrape encodes the health families into, and
// the writer that deflates them. A kflate.Writer costs 320 KB and 0.3 ms
// to make, as long as the rest of a small scrape; a sync.Pool loses it
// at every other GC, which a refresh brings about, so the first scrape
// after one made it again. spareBuffers keeps a few, GC or not.
type scrapeBuffers struct {
	health, zhealth bytes.Buffer
	zw              *kflate.Writer // made by the first scrape with gzip
}

// spareBuffers holds scrapeBuffers between scrapes: as many as scrapes
// that ran at once, up to its capacity.
var spareBuffers = make(chan *scrapeBuffers, 4)

// maxSpareBuffer is the largest buffer kept for the next scrape: the
// health families of a few accounts take some KiB, and a buffer grown by
// an unusual scrape is left to the GC.
const maxSpareBuffer = 1 << 20

func getScrapeBuffers(gz bool) *scrapeBuffers {
	var b *scrapeBuffers
	select {
	case b = <-spareBuffers:
	default:
		b = &scrapeBuffers{}
	}
	if gz && b.zw == nil {
		b.zw, _ = kflate.NewWriter(nil, healthDeflateLevel)
	}
	return b
}

func putScrapeBuffers(b *scrapeBuffers) {
	if b.health.Cap() > maxSpareBuffer || b.zhealth.Cap() > maxSpareBuffer {
		return
	}
	b.health.Reset()
	b.zhealth.Reset()
	if b.zw != nil {
		b.zw.Reset(io.Discard) // let go of the last scrape's buffer
	}
	select {
	case spareBuffers <- b:
	default:
	}
}

var (
	// gzipHeader is a gzip member's header: deflate, no name, no time.
	gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}
	// gzipEnd is the last deflate block: empty and final. The families'
	// deflate before it ends on byte boundaries (sync flushes).
	gzipEnd = []byte{3, 0}
)

// encodingNegotiator answers which Content-Encoding promhttp would send
// for a request's Accept-Encoding, by asking promhttp itself: a handler of
// an empty registry with the options the fast path serves (the default
// compressions) negotiates as the real one does, quirks included (q-values,
// "*", identity first among equals, case, header values it stops parsing).
// The answers are kept by header value: Prometheus sends the same one
// every scrape.
type encodingNegotiator struct {
	mu      sync.Mutex
	answers map[string]negotiated
}

// negotiated is promhttp's answer: the Content-Encoding ("" for none), and
// whether it failed to negotiate (all offers refused), which it logs and
// answers uncompressed: such requests are left to it.
type negotiated struct {
	encoding string
	failed   bool
}

// maxNegotiated bounds the answers kept; a scraper that sends a new
// header every time only costs a probe per scrape.
const maxNegotiated = 32

func (n *encodingNegotiator) negotiate(r *http.Request) negotiated {
	values := r.Header.Values("Accept-Encoding")
	cacheable := len(values) <= 1 // promhttp parses each value on its own
	key := strings.Join(values, "")
	if cacheable {
		n.mu.Lock()
		a, ok := n.answers[key]
		n.mu.Unlock()
		if ok {
			return a
		}
	}
	a := probeEncoding(values)
	if cacheable {
		n.mu.Lock()
		if n.answers == nil {
			n.answers = map[string]negotiated{}
		}
		if len(n.answers) < maxNegotiated {
			n.answers[key] = a
		}
		n.mu.Unlock()
	}
	return a
}

// probeEncoding serves a request with these Accept-Encoding values from
// an empty registry through promhttp and reads what it negotiated.
func probeEncoding(values []string) negotiated {
	var log probeLog
	h := promhttp.HandlerFor(prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return nil, nil }),
		promhttp.HandlerOpts{ErrorLog: &log})
	req := &http.Request{
		Method: http.MethodGet, URL: &url.URL{Path: "/metrics"},
		Header: http.Header{"Accept-Encoding": values},
	}
	w := probeWriter{header: http.Header{}}
	h.ServeHTTP(w, req)
	return negotiated{encoding: w.header.Get("Content-Encoding"), failed: bool(log)}
}

// probeLog records that promhttp logged an error: with an empty registry,
// only the negotiation of the encoding can fail.
type probeLog bool

func (l *probeLog) Println(...any) { *l = true }

type probeWriter struct{ header http.Header }

func (w probeWriter) Header() http.Header       { return w.header }
func (probeWriter) Write(b []byte) (int, error) { return len(b), nil }
func (probeWriter) WriteHeader(int)             {}
