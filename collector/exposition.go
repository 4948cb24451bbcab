package collector

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	kflate "github.com/klauspost/compress/flate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Handler serves /metrics as promhttp.HandlerFor(e.Gatherer(reg), opts)
// does, byte for byte, but without rendering the data metrics on every
// scrape: they are encoded once per change (a new snapshot or breakdown,
// which the refresher encodes before the first scrape sees it; a new
// rendering at a UTC midnight or period boundary; max_age passing; a
// reload), in the text format and in OpenMetrics, each also deflated. A
// scrape gathers and encodes reg's families (health, Go, process: a few
// hundred series), merges them by name with the encoded data families,
// and writes bytes. Requests the fast path does not cover (protobuf, name[]
// filters, unusual Accept-Encoding, gathering errors) go to promhttp.
func (e *Exporter) Handler(reg prometheus.Gatherer, opts promhttp.HandlerOpts) http.Handler {
	x := &exposition{e: e, reg: reg, fallback: promhttp.HandlerFor(e.Gatherer(reg), opts)}
	e.expo.Store(x)
	return x
}

type exposition struct {
	e        *Exporter
	reg      prometheus.Gatherer
	fallback http.Handler

	mu      sync.Mutex // held while encoding
	encoded atomic.Pointer[encodedData]
	// fallbacks counts the requests left to promhttp.
	fallbacks atomic.Int64
}

// encodedData is the data metrics, family by family in name order, in both
// formats, plain and as raw deflate that ends on a byte boundary (a sync
// flush), so that a gzip body is the families' deflate one after the other.
type encodedData struct {
	key   []any // what they were encoded from, as dataGatherer keys it
	names []string
	text  [numFormats][][]byte
	zip   [numFormats][][]byte
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
	key := make([]any, 0, 3*len(accounts))
	for _, a := range accounts {
		key = append(key, a, a.rendered(now, maxAge), a.freshBreakdown(now, maxAge))
	}
	return key
}

// published is called by a refresher after it published new data: the
// data metrics are encoded now, on its goroutine, rather than by the next
// scrape. It never waits for a lock: Apply and Stop wait for refreshers
// while they hold the exporter's, and a scrape encoding at the same time
// does the work anyway.
func (e *Exporter) published() {
	x := e.expo.Load()
	if x == nil || !e.mu.TryRLock() {
		return
	}
	accounts, maxAge := e.accounts, e.refresh.MaxAge
	e.mu.RUnlock()
	x.encode(accounts, maxAge, true)
}

// current returns the encoded data metrics, encoding them again if what
// they depend on changed.
func (x *exposition) current() (*encodedData, error) {
	accounts, maxAge := x.e.current()
	return x.encode(accounts, maxAge, false)
}

// encode returns the data metrics of accounts as of now, encoding them
// unless what they depend on is unchanged. With try, it gives up (nil)
// when another goroutine is encoding.
func (x *exposition) encode(accounts []*account, maxAge time.Duration, try bool) (*encodedData, error) {
	now := x.e.now()
	key := dataKey(accounts, maxAge, now)
	if d := x.encoded.Load(); d != nil && slices.Equal(d.key, key) {
		return d, nil
	}
	if try {
		if !x.mu.TryLock() {
			return nil, nil
		}
	} else {
		x.mu.Lock()
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
	d := &encodedData{key: key}
	var buf bytes.Buffer
	zw, _ := kflate.NewWriter(nil, kflate.BestSpeed)
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
			zw.Write(plain)
			zw.Flush()
			d.zip[f] = append(d.zip[f], bytes.Clone(buf.Bytes()))
		}
	}
	x.encoded.Store(d)
	return d, nil
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (x *exposition) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !x.serve(w, r) {
		x.fallbacks.Add(1)
		x.fallback.ServeHTTP(w, r)
	}
}

// serve answers from the encoded data metrics, or reports false before it
// wrote anything.
func (x *exposition) serve(w http.ResponseWriter, r *http.Request) bool {
	format := expfmt.NegotiateAccept(r.Header, expfmt.DefaultOpenMetricsAcceptedFormats()...)
	f := -1
	switch format.FormatType() {
	case expfmt.TypeTextPlain:
		f = fmtText
	case expfmt.TypeOpenMetrics:
		f = fmtOpenMetrics
	}
	gz, ok := acceptsGzip(r.Header)
	if f < 0 || !ok || r.URL.Query().Has("name[]") {
		return false
	}
	data, err := x.current()
	if err != nil {
		return false
	}
	health, err := x.reg.Gather()
	if err != nil {
		return false
	}
	body := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(body)
	body.Reset()
	var plain *bytes.Buffer // what the deflate holds, for the gzip checksum
	var zw *kflate.Writer
	var segment bytes.Buffer
	var crc uint32
	var size uint32
	if gz {
		body.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}) // gzip header: deflate, no name, no time
		zw, _ = kflate.NewWriter(nil, kflate.BestSpeed)
		plain = &segment
	}
	put := func(text, deflated []byte) {
		if !gz {
			body.Write(text)
			return
		}
		crc = crc32.Update(crc, crc32.IEEETable, text)
		size += uint32(len(text))
		body.Write(deflated)
	}
	encodeHealth := func(mf *dto.MetricFamily) error {
		var enc bytes.Buffer
		if err := expfmt.NewEncoder(&enc, format).Encode(mf); err != nil {
			return err
		}
		if !gz {
			body.Write(enc.Bytes())
			return nil
		}
		plain.Reset()
		zw.Reset(plain)
		zw.Write(enc.Bytes())
		zw.Flush()
		put(enc.Bytes(), plain.Bytes())
		return nil
	}
	// Both lists are sorted by name and share none: merge them.
	i := 0
	for _, mf := range health {
		for ; i < len(data.names) && data.names[i] < mf.GetName(); i++ {
			put(data.text[f][i], data.zip[f][i])
		}
		if err := encodeHealth(mf); err != nil {
			return false
		}
	}
	for ; i < len(data.names); i++ {
		put(data.text[f][i], data.zip[f][i])
	}
	if f == fmtOpenMetrics {
		var eof bytes.Buffer
		if c, ok := expfmt.NewEncoder(&eof, format).(expfmt.Closer); ok {
			c.Close()
		}
		if gz {
			plain.Reset()
			zw.Reset(plain)
			zw.Write(eof.Bytes())
			zw.Flush()
			put(eof.Bytes(), plain.Bytes())
		} else {
			body.Write(eof.Bytes())
		}
	}
	h := w.Header()
	h.Add("Vary", "Accept")
	h.Add("Vary", "Accept-Encoding")
	h.Set("Content-Type", string(format))
	if gz {
		body.Write([]byte{3, 0}) // the last block: empty, final
		body.Write(binary.LittleEndian.AppendUint32(nil, crc))
		body.Write(binary.LittleEndian.AppendUint32(nil, size))
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(body.Len()))
	w.Write(body.Bytes())
	return true
}

// acceptsGzip tells, for the Accept-Encoding values the fast path
// understands, whether promhttp would answer with gzip (true) or without
// compression (false); ok is false for anything else (q-values, zstd,
// wildcards), left to promhttp.
func acceptsGzip(h http.Header) (gzip, ok bool) {
	for _, v := range h.Values("Accept-Encoding") {
		for tok := range strings.SplitSeq(v, ",") {
			switch strings.TrimSpace(tok) {
			case "gzip":
				gzip = true
			case "", "identity", "deflate", "br":
			default:
				return false, false
			}
		}
	}
	return gzip, true
}
