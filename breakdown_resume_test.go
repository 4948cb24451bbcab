package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/collector"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// holdAssetJob is a transport that holds the creation of the first ASSET
// export job until release closes.
type holdAssetJob struct {
	next    http.RoundTripper
	release chan struct{}
	created atomic.Int64
}

func (h *holdAssetJob) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(body, []byte(`"ASSET"`)) && h.created.Add(1) == 1 {
			select {
			case <-h.release:
			case <-r.Context().Done():
				return nil, r.Context().Err()
			}
		}
	}
	return h.next.RoundTrip(r)
}

// assetJobs returns the startDate of every ASSET export job f was asked
// for.
func assetJobs(f *fake.Server) []string {
	var out []string
	for _, r := range f.Requests() {
		if r.Endpoint == fake.EndpointExport && r.Body["jobType"] == "ASSET" {
			out = append(out, fmt.Sprint(r.Body["startDate"]))
		}
	}
	return out
}

// TestReloadResumesBreakdown reloads an account with changed settings
// (same login) while the first of its asset breakdown's jobs (an annual
// billing period: 30 days a job) is in flight. The old instance finishes
// that job and starts no other; the new instance goes on with the next
// job instead of starting the breakdown over: every range is exported
// once, and the breakdown is served.
func TestReloadResumesBreakdown(t *testing.T) {
	at := date(2026, 6, 15, 12, 0, 0)
	now := frozen(at)
	f := startFake(t, fake.Options{Now: now, Days: 200, AnnualFrom: date(2026, 1, 1, 0, 0, 0)})
	dir := t.TempDir()
	account := func(entitlement int) string {
		return loginYAML(f, f.Password()) + fmt.Sprintf("    ipu_entitlement: %d\n    breakdowns: [asset]\n", entitlement)
	}
	path := writeFile(t, dir, "config.yml", lifecycleConfig(account(100), ""))
	hold := &holdAssetJob{next: http.DefaultTransport, release: make(chan struct{})}
	adjust := func(s *collector.Settings) {
		for i := range s.Accounts {
			s.Accounts[i].Client.HTTPClient = &http.Client{Transport: hold}
		}
	}
	timer := &stepTimer{}
	p := startExporterWith(t, hooks{now: now, after: timer.after, adjust: adjust}, "--config.file="+path)
	timer.allow(1)
	waitFor(t, 20*time.Second, "the first asset job", func() bool { return hold.created.Load() > 0 })

	writeFile(t, dir, "config.yml", lifecycleConfig(account(200), ""))
	p.reload()
	close(hold.release)
	waitFor(t, 20*time.Second, "the old instance to log out", func() bool { return f.Calls(fake.EndpointLogout) == 1 })
	if jobs := assetJobs(f); len(jobs) != 1 {
		t.Errorf("the retired instance ran %d asset jobs (from %v), want only the one in flight at the reload", len(jobs), jobs)
	}

	timer.allow(100)
	waitFor(t, time.Minute, "the asset breakdown", func() bool {
		return p.scrape()[key("informatica_exporter_last_breakdown_success_timestamp_seconds", "account", "acme", "breakdown", "asset")] > 0
	})
	jobs := assetJobs(f)
	if distinct := slices.Compact(slices.Sorted(slices.Values(jobs))); len(distinct) != len(jobs) || len(jobs) < 2 {
		t.Errorf("asset jobs from %v: want each range once, and more than one", jobs)
	}
	found := false
	for k := range p.scrape() {
		found = found || strings.HasPrefix(k, "informatica_asset_billing_period_consumed_ipus{")
	}
	if !found {
		t.Error("no asset series after the breakdown")
	}
}
