package collector

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// scrapeWith serves one request and returns the status, the headers that
// matter and the body, inflated.
func scrapeWith(t *testing.T, h http.Handler, accept, encoding string) (int, string, string, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if encoding != "" {
		req.Header.Set("Accept-Encoding", encoding)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body := rec.Body.Bytes()
	if rec.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		zr.Multistream(false) // one gzip member: what any client reads
		if body, err = io.ReadAll(zr); err != nil {
			t.Fatalf("gzip body: %v", err)
		}
	}
	return rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Content-Encoding") + "|" + rec.Header().Values("Vary")[0], body
}

// TestHandlerServesWhatPromhttpServes: the pre-encoded exposition is byte
// for byte what promhttp renders from the same registry, in every format
// Prometheus negotiates, with and without gzip, through every kind of
// change: a new snapshot, a new UTC day, max_age passing.
func TestHandlerServesWhatPromhttpServes(t *testing.T) {
	clock := newFixedClock(goldenNow)
	entitlement := 120000.0
	prod := staticAccount("prod", &entitlement, goldenState(), newSnapshot("prod", goldenTable(t), date("2025-03-10T11:58:00Z")))
	shared := staticAccount("shared", nil, newAccountState(), newSnapshot("shared", sharedTable(t, 2, "org-a", "c"), goldenNow))
	e := staticExporter(clock, 26*time.Hour, prod, shared)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	for _, om := range []bool{true, false} {
		checkAgainstPromhttp(t, clock, prod, e, reg, promhttp.HandlerOpts{EnableOpenMetrics: om})
		clock.Set(goldenNow)
		prod.snap.Store(newSnapshot("prod", goldenTable(t), date("2025-03-10T11:58:00Z")))
	}
}

func checkAgainstPromhttp(t *testing.T, clock *fixedClock, prod *account, e *Exporter, reg *prometheus.Registry, opts promhttp.HandlerOpts) {
	fast := e.Handler(reg, opts)
	ref := promhttp.HandlerFor(e.Gatherer(reg), opts)

	accepts := []string{
		"",
		"text/plain;version=0.0.4",
		"text/plain;version=1.0.0;escaping=allow-utf-8",
		"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
		"application/openmetrics-text;version=0.0.1",
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
	}
	check := func(when string) {
		t.Helper()
		for _, accept := range accepts {
			for _, encoding := range []string{"", "gzip", "gzip, deflate, br"} {
				when := fmt.Sprintf("%s (OpenMetrics offered: %v)", when, opts.EnableOpenMetrics)
				before := fast.(*exposition).fallbacks.Load()
				code, ctype, enc, body := scrapeWith(t, fast, accept, encoding)
				if fell := fast.(*exposition).fallbacks.Load() > before; fell != strings.Contains(accept, "protobuf") {
					t.Errorf("%s, Accept %q, Accept-Encoding %q: left to promhttp: %v", when, accept, encoding, fell)
				}
				wcode, wctype, wenc, wbody := scrapeWith(t, ref, accept, encoding)
				if code != wcode || ctype != wctype || enc != wenc {
					t.Errorf("%s, Accept %q, Accept-Encoding %q: %d %q %q, promhttp %d %q %q", when, accept, encoding, code, ctype, enc, wcode, wctype, wenc)
				}
				if !bytes.Equal(body, wbody) {
					t.Errorf("%s, Accept %q, Accept-Encoding %q: body differs from promhttp's:\n%s\n---- promhttp:\n%s", when, accept, encoding, body, wbody)
				}
			}
		}
	}
	check("first scrape")
	check("from the encoded data")
	prod.snap.Store(newSnapshot("prod", sharedTable(t, 7, "org-a", "b"), goldenNow))
	check("a new snapshot")
	clock.Set(goldenNow.Add(24 * time.Hour))
	check("another last complete day")
	clock.Set(goldenNow.Add(27 * time.Hour))
	check("past max_age")
}

// TestPublishEncodes: a refresher that publishes encodes the data metrics,
// so that the first scrape after it only copies bytes.
func TestPublishEncodes(t *testing.T) {
	clock := newFixedClock(goldenNow)
	prod := staticAccount("prod", nil, goldenState(), newSnapshot("prod", goldenTable(t), goldenNow))
	e := staticExporter(clock, 26*time.Hour, prod)
	reg := prometheus.NewRegistry()
	reg.MustRegister(e)
	x := e.Handler(reg, promhttp.HandlerOpts{}).(*exposition)
	first, _ := x.current()
	prod.published, prod.now = e.published, func() time.Time { return goldenNow }
	if err := prod.publish(newSnapshot("prod", sharedTable(t, 3, "org-a", "b"), goldenNow)); err != nil {
		t.Fatal(err)
	}
	d := x.encoded.Load()
	if d == first {
		t.Fatal("publishing did not encode the data metrics")
	}
	if again, _ := x.current(); again != d {
		t.Error("the scrape after publishing encoded the data metrics again")
	}
}

// expiryTimer is a timer a test fires by hand; requests tells each wait
// asked for.
type expiryTimer struct {
	requests chan time.Duration
	fire     chan time.Time
}

func (x *expiryTimer) after(d time.Duration) <-chan time.Time {
	x.requests <- d
	return x.fire
}

// next returns the next wait asked for, failing the test after a minute.
func (x *expiryTimer) next(t *testing.T, what string) time.Duration {
	t.Helper()
	select {
	case d := <-x.requests:
		return d
	case <-time.After(time.Minute):
		t.Fatalf("no timer for %s", what)
		return 0
	}
}

// TestExpiryEncodesOffTheScrape: when the encoded data metrics expire (a
// UTC midnight, max_age passing), a timer encodes them again, so the
// scrape after it only copies bytes; a scrape that finds them stale all
// the same (the clock jumped, the timer has not fired yet) encodes rather
// than serve them.
func TestExpiryEncodesOffTheScrape(t *testing.T) {
	clock := newFixedClock(goldenNow)
	prod := staticAccount("prod", nil, goldenState(), nil)
	e := staticExporter(clock, 26*time.Hour, prod)
	timer := &expiryTimer{requests: make(chan time.Duration, 100), fire: make(chan time.Time)}
	reg := prometheus.NewRegistry()
	reg.MustRegister(e)
	opts := promhttp.HandlerOpts{EnableOpenMetrics: true}
	x := e.Handler(reg, opts).(*exposition)
	x.after = timer.after
	ref := promhttp.HandlerFor(e.Gatherer(reg), opts)
	prod.published, prod.now = e.published, clock.Now
	if err := prod.publish(newSnapshot("prod", goldenTable(t), goldenNow)); err != nil {
		t.Fatal(err)
	}
	// The first expiry is the next UTC midnight, 12 hours on.
	if d := timer.next(t, "the first expiry"); d != 12*time.Hour {
		t.Fatalf("timer set for %v, want 12h (midnight)", d)
	}
	scrape := func(when string) []byte {
		t.Helper()
		const om = "application/openmetrics-text;version=1.0.0"
		_, _, _, body := scrapeWith(t, x, om, "gzip")
		_, _, _, want := scrapeWith(t, ref, om, "gzip")
		if !bytes.Equal(body, want) {
			t.Fatalf("%s: body differs from promhttp's:\n%s\n---- promhttp:\n%s", when, body, want)
		}
		return body
	}
	before := scrape("before midnight")

	clock.Set(goldenNow.Add(12 * time.Hour))
	timer.fire <- clock.Now()
	// Encoded again, the timer is set for max_age passing: the snapshot
	// is 26 hours old a nanosecond after 14:00. (A wake that raced the
	// scheduler's start may have set the midnight timer twice.)
	d := timer.next(t, "max_age")
	for d == 12*time.Hour {
		d = timer.next(t, "max_age")
	}
	if d != 14*time.Hour+time.Nanosecond {
		t.Fatalf("timer set for %v after midnight, want 14h1ns (max_age)", d)
	}
	if n := x.encodes[byTimer].Load(); n != 1 {
		t.Fatalf("the timer encoded %d times, want 1", n)
	}
	after := scrape("after midnight")
	if bytes.Equal(before, after) {
		t.Error("the scrape after midnight served the bytes of the day before")
	}
	if n := x.encodes[byScrape].Load(); n != 0 {
		t.Errorf("scrapes encoded %d times, want 0: the refresher and the timer did", n)
	}

	// The clock passes max_age before the timer fires: the scrape encodes.
	clock.Set(goldenNow.Add(27 * time.Hour))
	stale := scrape("past max_age, timer not fired")
	if n := x.encodes[byScrape].Load(); n != 1 {
		t.Errorf("a scrape finding expired bytes encoded %d times, want 1", n)
	}
	if usage := "informatica_ipu_billing_period_consumed_ipus{"; !strings.Contains(string(before), usage) || strings.Contains(string(stale), usage) {
		t.Error("usage metrics served past max_age")
	}
}

// TestFallbackRendersWhatIsEncoded: the requests left to promhttp
// (protobuf, name[] filters) render the data metrics from the snapshot's
// table, which keeps no prometheus.Metrics: what they serve is what the
// encoded bytes hold.
func TestFallbackRendersWhatIsEncoded(t *testing.T) {
	clock := newFixedClock(goldenNow)
	prod := staticAccount("prod", nil, goldenState(), newSnapshot("prod", goldenTable(t), goldenNow))
	shared := staticAccount("shared", nil, newAccountState(), newSnapshot("shared", sharedTable(t, 2, "org-a", "c"), goldenNow))
	e := staticExporter(clock, 26*time.Hour, prod, shared)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	x := e.Handler(reg, promhttp.HandlerOpts{}).(*exposition)
	_, _, _, text := scrapeWith(t, x, "text/plain;version=0.0.4", "")

	const proto = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
	_, _, _, pb := scrapeWith(t, x, proto, "gzip")
	dec := expfmt.NewDecoder(bytes.NewReader(pb), expfmt.NewFormat(expfmt.TypeProtoDelim))
	var fromProto bytes.Buffer
	enc := expfmt.NewEncoder(&fromProto, expfmt.NewFormat(expfmt.TypeTextPlain))
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if err := enc.Encode(&mf); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(fromProto.Bytes(), text) {
		t.Errorf("protobuf answer differs from the encoded text:\n%s\n---- text:\n%s", fromProto.Bytes(), text)
	}

	const name = "informatica_ipu_billing_period_consumed_ipus"
	before := x.fallbacks.Load()
	req := httptest.NewRequest(http.MethodGet, "/metrics?name[]="+name, nil)
	rec := httptest.NewRecorder()
	x.ServeHTTP(rec, req)
	if x.fallbacks.Load() != before+1 {
		t.Error("a name[] filter was not left to promhttp")
	}
	var want []string
	for line := range strings.Lines(string(text)) {
		if strings.HasPrefix(line, name) || strings.HasPrefix(line, "# HELP "+name+" ") || strings.HasPrefix(line, "# TYPE "+name+" ") {
			want = append(want, line)
		}
	}
	if got := rec.Body.String(); len(want) < 3 || got != strings.Join(want, "") {
		t.Errorf("name[]=%s served:\n%s\nwant the encoded family:\n%s", name, got, strings.Join(want, ""))
	}
}

// TestRenderingKeepsNoMetrics: a rendering costs a few dozen bytes a
// series (values and label indexes), not the ~400 of a prometheus.Metric.
func TestRenderingKeepsNoMetrics(t *testing.T) {
	spec := scaleSpec(50, 40)
	f, size := openExport(t, benchExport(t, spec))
	tbl, _ := parse(t, f, size, nil)
	now := spec.Last().Add(36 * time.Hour)
	snap := newSnapshot("bench", tbl, now)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r, err := snap.metrics(now)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	series := 0
	for _, fam := range r.families {
		series += len(fam)
	}
	perSeries := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(series)
	t.Logf("%d series, %.1f bytes a series kept", series, perSeries)
	if perSeries > 64 {
		t.Errorf("a rendering keeps %.0f bytes a series, want at most 64", perSeries)
	}
	runtime.KeepAlive(r)
}

// TestReloadEncodesOffTheScrape: a reload that changes the accounts
// encodes the data metrics on the reload's goroutine, so the scrape after
// it only copies bytes, and they are the new accounts' (what promhttp
// serves).
func TestReloadEncodesOffTheScrape(t *testing.T) {
	t.Parallel()
	now := movingClock()
	fA := startFake(t, fake.Options{Orgs: orgsOf("a")}, now)
	gA := newGate(t)
	logger, _ := newTestLogger()
	e, reg := newTestExporter(t, logger, now)
	opts := promhttp.HandlerOpts{EnableOpenMetrics: true}
	x := e.Handler(reg, opts).(*exposition)
	ref := promhttp.HandlerFor(e.Gatherer(reg), opts)
	refresh := refreshSettings(time.Hour)
	entitled := func(v float64) AccountSettings {
		a := accountFor("a", fA, gA)
		a.Entitlement = &v
		return a
	}
	if err := e.Apply(Settings{Accounts: []AccountSettings{entitled(100)}, Refresh: refresh}); err != nil {
		t.Fatal(err)
	}
	gA.bind(t, e, "a")
	gA.allow(t, 1)
	const om = "application/openmetrics-text;version=1.0.0"
	scrapeWith(t, x, om, "")
	before := x.encodes[byScrape].Load()

	// The gate holds the restarted account's refreshes: only the reload
	// can have encoded what the scrape below serves.
	if err := e.Apply(Settings{Accounts: []AccountSettings{entitled(200)}, Refresh: refresh}); err != nil {
		t.Fatal(err)
	}
	// The retired instance's logout counts in the health metrics: both
	// scrapes below come after it.
	waitFor(t, "the retired instance to log out", func() bool { return fA.Calls(fake.EndpointLogout) == 1 })
	_, _, _, body := scrapeWith(t, x, om, "")
	if n := x.encodes[byScrape].Load(); n != before {
		t.Errorf("the scrape after a reload encoded %d times, want 0: the reload should have", n-before)
	}
	if _, _, _, want := scrapeWith(t, ref, om, ""); !bytes.Equal(body, want) {
		t.Errorf("after the reload the body differs from promhttp's:\n%s\n---- promhttp:\n%s", body, want)
	}
	if refreshesOf(accountNamed(e, "a").state) != 1 {
		t.Error("the restarted account refreshed: the test no longer shows what the reload encoded")
	}
}

// TestEncodingNegotiatedAsPromhttp: whatever the Accept-Encoding, the
// handler answers with the Content-Encoding and the body promhttp answers
// with for the same registry, and serves from the encoded data whenever
// promhttp would send gzip or no compression without complaint.
func TestEncodingNegotiatedAsPromhttp(t *testing.T) {
	clock := newFixedClock(goldenNow)
	entitlement := 120000.0
	prod := staticAccount("prod", &entitlement, goldenState(), newSnapshot("prod", goldenTable(t), date("2025-03-10T11:58:00Z")))
	e := staticExporter(clock, 26*time.Hour, prod)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	opts := promhttp.HandlerOpts{EnableOpenMetrics: true}
	fast := e.Handler(reg, opts).(*exposition)
	ref := promhttp.HandlerFor(e.Gatherer(reg), opts)

	cases := []struct {
		values []string // Accept-Encoding header lines; nil: none
		fast   bool     // served from the encoded data
	}{
		{nil, true},
		{[]string{""}, true},
		{[]string{"gzip"}, true},
		{[]string{"identity"}, true},
		{[]string{"identity, gzip"}, true},
		{[]string{"gzip, identity"}, true},
		{[]string{"gzip;q=0.5, identity"}, true},
		{[]string{"gzip, identity;q=0.5"}, true},
		{[]string{"gzip;q=1.0, identity;q=0.9"}, true},
		{[]string{"identity;q=0.9, gzip;q=0.9"}, true},
		{[]string{"gzip;q=0.001"}, true},
		{[]string{"identity;q=0, gzip"}, true},
		{[]string{"identity;q=0"}, false},
		{[]string{"gzip;q=0"}, false},
		{[]string{"*"}, true},
		{[]string{"*;q=0"}, false},
		{[]string{"*, identity;q=0"}, true},
		{[]string{"gzip;q=0, *"}, true},
		{[]string{"*;q=0.5, gzip"}, true},
		{[]string{"deflate, br"}, true},
		{[]string{"gzip, deflate, br"}, true},
		{[]string{"zstd"}, true},
		{[]string{"zstd, gzip"}, true},
		{[]string{"x-gzip"}, true},
		{[]string{"compress;q=0.5, gzip;q=0.2"}, true},
		{[]string{"GZIP"}, true},
		{[]string{"Identity, gzip"}, true},
		{[]string{"  gzip  ,  identity ;q=0.2 "}, true},
		{[]string{"gzip;level=9"}, true},
		{[]string{"gzip;q=abc, identity"}, true},
		{[]string{",gzip"}, true},
		{[]string{"identity", "gzip"}, true},
		{[]string{"gzip", "identity;q=0.1"}, true},
		{[]string{"identity;q=0", "gzip;q=0"}, false},
	}
	accepts := []string{
		"text/plain;version=0.0.4",
		"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
	}
	serve := func(h http.Handler, accept string, values []string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept", accept)
		if values != nil {
			req.Header["Accept-Encoding"] = values
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	decoded := func(rec *httptest.ResponseRecorder) []byte {
		t.Helper()
		if rec.Header().Get("Content-Encoding") != "gzip" {
			return rec.Body.Bytes()
		}
		zr, err := gzip.NewReader(bytes.NewReader(rec.Body.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		zr.Multistream(false)
		body, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("gzip body: %v", err)
		}
		return body
	}
	for _, accept := range accepts {
		for _, c := range cases {
			// Twice: the second answer is the negotiator's remembered one.
			for range 2 {
				before := fast.fallbacks.Load()
				got := serve(fast, accept, c.values)
				fell := fast.fallbacks.Load() > before
				want := serve(ref, accept, c.values)
				what := fmt.Sprintf("Accept-Encoding %q, Accept %.20q", c.values, accept)
				if fell == c.fast {
					t.Errorf("%s: left to promhttp: %v", what, fell)
				}
				for _, h := range []string{"Content-Encoding", "Content-Type"} {
					if g, w := got.Header().Get(h), want.Header().Get(h); g != w {
						t.Errorf("%s: %s %q, promhttp %q", what, h, g, w)
					}
				}
				if got.Code != want.Code {
					t.Errorf("%s: status %d, promhttp %d", what, got.Code, want.Code)
				}
				if g, w := decoded(got), decoded(want); !bytes.Equal(g, w) {
					t.Errorf("%s: body differs from promhttp's:\n%s\n---- promhttp:\n%s", what, g, w)
				}
			}
		}
	}
}
