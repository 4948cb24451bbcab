package collector

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// TestScrapesDuringRefreshes gathers continuously while two accounts refresh
// back to back with changing data and reloads restart one of them. Run it
// with -race; it also checks that every scrape is whole.
func TestScrapesDuringRefreshes(t *testing.T) {
	t.Parallel()
	now := movingClock()
	f1 := startFake(t, fake.Options{}, now)
	f2 := startFake(t, fake.Options{Orgs: orgsOf("x")}, now)
	logger, _ := newTestLogger()
	e, reg := newTestExporter(t, logger, now)
	refresh := refreshSettings(time.Millisecond)
	settings := func(entitlement float64) Settings {
		a := accountFor("one", f1, nil)
		a.Entitlement = &entitlement
		return Settings{Accounts: []AccountSettings{a, accountFor("two", f2, nil)}, Refresh: refresh}
	}
	if err := e.Apply(settings(1)); err != nil {
		t.Fatal(err)
	}
	one := accountNamed(e, "one").state
	two := accountNamed(e, "two").state

	done := make(chan struct{})
	var wg sync.WaitGroup
	var scrapes atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				mfs, err := reg.Gather()
				if err != nil {
					t.Errorf("gather: %v", err)
					return
				}
				ups := 0
				for _, mf := range mfs {
					if mf.GetName() == "informatica_up" {
						ups = len(mf.Metric)
					}
				}
				if ups != 2 {
					t.Errorf("a scrape has %d up series, want 2", ups)
					return
				}
				e.Status()
				e.Ready()
				scrapes.Add(1)
			}
		}()
	}
	// Reload after every finished refresh of account one: a changed
	// entitlement restarts it, an unchanged configuration does not.
	wg.Add(1)
	go func() {
		defer wg.Done()
		seen, entitlement := uint64(0), 1.0
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
			if n := refreshesOf(one); n > seen {
				seen = n
				entitlement++
				f1.SetGeneration(int(entitlement))
			}
			if err := e.Apply(settings(entitlement)); err != nil {
				t.Errorf("apply: %v", err)
				return
			}
		}
	}()

	waitFor(t, "refreshes of both accounts", func() bool {
		return refreshesOf(one) >= 4 && refreshesOf(two) >= 4
	})
	close(done)
	wg.Wait()
	if scrapes.Load() == 0 {
		t.Fatal("no scrape completed")
	}
	s := gatherSamples(t, reg)
	for _, name := range []string{"one", "two"} {
		if got := s[key("informatica_up", "account", name)]; got != 1 {
			t.Errorf("up{account=%s} = %v", name, got)
		}
	}
	for _, st := range e.Status() {
		if st.LastError != "" {
			t.Errorf("account %s: %s", st.Name, st.LastError)
		}
	}
	if len(orgSeries(s, "x-org")) == 0 || len(orgSeries(s, fake.DemoOrgs[0].ID)) == 0 {
		t.Errorf("usage missing after the refreshes:\n%s", s)
	}
}
