package collector

import (
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
	"github.com/ipumon/informatica_exporter/internal/testkit"
)

// TestRefreshEconomyThroughExporter counts the API calls of an exporter's
// first refresh, with the default settings, against a job that takes 10
// minutes: one login, one export call, one download, at most 15 polls.
func TestRefreshEconomyThroughExporter(t *testing.T) {
	t.Parallel()
	clock := testkit.NewInstantClock(fakeBase)
	f := startFake(t, fake.Options{CreatedFor: time.Minute, ProcessingFor: 9 * time.Minute, JobClock: clock.Now}, clock.Now)
	logger, _ := newTestLogger()
	e, _ := newTestExporter(t, logger, clock.Now)
	acct := accountFor("prod", f, nil)
	acct.Client.Clock = clock
	refresh := RefreshSettings{
		Interval:     time.Hour,
		Lookback:     45 * 24 * time.Hour,
		PollInterval: 15 * time.Second,
		JobTimeout:   30 * time.Minute,
		MaxAge:       26 * time.Hour,
	}
	if err := e.Apply(Settings{Accounts: []AccountSettings{acct}, Refresh: refresh}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first refresh", e.Ready)
	got := map[string]int{}
	for _, ep := range []string{fake.EndpointLogin, fake.EndpointExport, fake.EndpointStatus, fake.EndpointDownload} {
		got[ep] = f.Calls(ep)
	}
	if got[fake.EndpointLogin] != 1 || got[fake.EndpointExport] != 1 || got[fake.EndpointDownload] != 1 || got[fake.EndpointStatus] > 15 {
		t.Errorf("first refresh made calls %v; want 1 login, 1 export, 1 download, at most 15 status polls", got)
	}
	if st := e.Status(); len(st) != 1 || !st[0].Up {
		t.Errorf("status %+v, want up", st)
	}
	t.Logf("ECONOMY exporter first refresh: login=%d export=%d status=%d download=%d (virtual time %s)",
		got[fake.EndpointLogin], got[fake.EndpointExport], got[fake.EndpointStatus], got[fake.EndpointDownload],
		clock.Now().Sub(fakeBase).Round(time.Second))
}

var _ informatica.Clock = (*testkit.InstantClock)(nil)
