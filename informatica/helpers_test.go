package informatica_test

import (
	"archive/zip"
	"bytes"
	"cmp"
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
	"github.com/ipumon/informatica_exporter/internal/testkit"
)

// t0 is where every manual clock starts: a whole second, so that HTTP dates
// (second precision) convert to exact durations.
var t0 = time.Date(2024, time.June, 15, 10, 0, 0, 0, time.UTC)

const (
	testUser     = "ipu-reader@example.com"
	testPassword = "s3cret-Pa55w0rd-4711"
)

// manualClock is an informatica.Clock whose Sleep advances time at once and
// records the duration asked for. Its Now also drives the fake, so export
// jobs progress in the same virtual time.
type manualClock = testkit.InstantClock

func newClock() *manualClock { return testkit.NewInstantClock(t0) }

// hookCall is the endpoint and code of one report through Config.OnCall.
type hookCall struct{ Endpoint, Code string }

// env is a started fake Informatica and a client pointed at it.
type env struct {
	srv    *fake.Server
	clock  *manualClock
	client *informatica.Client
	cfg    informatica.Config

	mu    sync.Mutex
	hooks []hookCall
	calls []informatica.Call
}

// newEnv starts a fake on loopback with opts (its Now and credentials filled
// in) and a client for it; configure may change the client's Config.
func newEnv(t *testing.T, opts fake.Options, configure func(*informatica.Config)) *env {
	t.Helper()
	e := &env{clock: newClock()}
	if opts.Username == "" {
		opts.Username = testUser
	}
	if opts.Password == "" {
		opts.Password = testPassword
	}
	if opts.Now == nil {
		opts.Now = e.clock.Now
	}
	if opts.JobClock == nil {
		// Jobs age on the client's virtual clock, which its sleeps move on.
		opts.JobClock = e.clock.Now
	}
	e.srv = fake.New(opts)
	if err := e.srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.srv.Close() })
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	e.cfg = informatica.Config{
		LoginURL:   e.srv.URL(),
		Username:   opts.Username,
		Password:   opts.Password,
		HTTPClient: &http.Client{Transport: tr},
		Clock:      e.clock,
		TempDir:    t.TempDir(),
		OnCall: func(c informatica.Call) {
			e.mu.Lock()
			e.hooks = append(e.hooks, hookCall{c.Endpoint, c.Code})
			e.calls = append(e.calls, c)
			e.mu.Unlock()
		},
	}
	if configure != nil {
		configure(&e.cfg)
	}
	c, err := informatica.NewClient(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.client = c
	return e
}

func (e *env) Hooks() []hookCall {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.hooks)
}

// Calls returns every report through Config.OnCall.
func (e *env) Calls() []informatica.Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.calls)
}

// codes lists the status codes the hook reported for one endpoint.
func (e *env) codes(endpoint string) []string {
	var out []string
	for _, h := range e.Hooks() {
		if h.Endpoint == endpoint {
			out = append(out, h.Code)
		}
	}
	return out
}

// export runs ExportUsage for [from, to] and returns copies of the rows.
func (e *env) export(from, to time.Time) ([]row, informatica.ExportResult, error) {
	var rows []row
	res, err := e.client.ExportUsage(context.Background(), from, to, func(u *informatica.UsageRow) error {
		rows = append(rows, fromUsage(u))
		return nil
	})
	return rows, res, err
}

// exportDays exports the ten days before t0's day; the fake has data for them.
func (e *env) exportDays() ([]row, informatica.ExportResult, error) {
	to := day(t0).Add(-time.Second)
	return e.export(to.AddDate(0, 0, -10).Add(time.Second), to)
}

// requests returns the fake's record of one endpoint's requests.
func (e *env) requests(endpoint string) []fake.Request {
	var out []fake.Request
	for _, r := range e.srv.Requests() {
		if r.Endpoint == endpoint {
			out = append(out, r)
		}
	}
	return out
}

// servedRows is what the fake put into downloaded ZIPs, as rows.
func (e *env) servedRows() []row {
	var out []row
	for _, r := range e.srv.Served() {
		out = append(out, fromFake(r))
	}
	return out
}

func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// row is a comparable copy of an informatica.UsageRow; times are written
// out so that rows compare by value, not by time.Location pointer.
type row struct {
	OrgID, OrgName, OrgType      string
	MeterID, MeterName           string
	Scalar, MetricCategory       string
	Date, PeriodStart, PeriodEnd string
	MeterUsage, IPU, IPURate     float64
	HasIPURate                   bool
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

func fromUsage(u *informatica.UsageRow) row {
	return row{
		OrgID: u.OrgID, OrgName: u.OrgName, OrgType: u.OrgType,
		MeterID: u.MeterID, MeterName: u.MeterName,
		Scalar: u.Scalar, MetricCategory: u.MetricCategory,
		Date: stamp(u.Date), PeriodStart: stamp(u.BillingPeriodStart), PeriodEnd: stamp(u.BillingPeriodEnd),
		MeterUsage: u.MeterUsage, IPU: u.IPU, IPURate: u.IPURate, HasIPURate: u.HasIPURate,
	}
}

// fromFake is the row the client should produce for a row the fake served.
func fromFake(r fake.Row) row {
	return row{
		OrgID: r.Org.ID, OrgName: r.Org.Name, OrgType: r.Org.Type,
		MeterID: r.Meter.ID, MeterName: r.Meter.Name,
		Scalar: r.Meter.Scalar, MetricCategory: r.Meter.Category,
		Date: stamp(r.Date), PeriodStart: stamp(r.BillingPeriodStart), PeriodEnd: stamp(r.BillingPeriodEnd),
		MeterUsage: r.MeterUsage, IPU: r.IPU, IPURate: r.Meter.Rate, HasIPURate: true,
	}
}

func sortRows(rows []row) []row {
	rows = slices.Clone(rows)
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.OrgID, b.OrgID), cmp.Compare(a.MeterID, b.MeterID), cmp.Compare(a.Date, b.Date))
	})
	return rows
}

// checkRows fails unless got and want hold the same rows, in any order.
func checkRows(t *testing.T, got, want []row) {
	t.Helper()
	if len(want) == 0 {
		t.Fatal("test bug: no rows expected")
	}
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	got, want = sortRows(got), sortRows(want)
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("row %d differs:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

// zipFile is one entry of a ZIP built by makeZIP.
type zipFile struct {
	Name, Body string
}

func makeZIP(t *testing.T, files ...zipFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, err := zw.Create(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(f.Body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// serve answers with a fixed body; for Fault.Handler.
func serve(status int, contentType string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		w.Write(body)
	}
}
