package informatica_test

import (
	"context"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// calls counts the requests the fake answered, per endpoint.
type calls map[string]int

var economyEndpoints = []string{fake.EndpointLogin, fake.EndpointExport, fake.EndpointStatus, fake.EndpointDownload}

func countCalls(srv *fake.Server) calls {
	c := calls{}
	for _, ep := range economyEndpoints {
		c[ep] = srv.Calls(ep)
	}
	return c
}

func (c calls) minus(before calls) calls {
	d := calls{}
	for ep, n := range c {
		d[ep] = n - before[ep]
	}
	return d
}

// TestRefreshEconomy counts the API calls of refreshes against the fake, in
// virtual time shared by the fake and the client, with the default poll
// settings (15 s, doubling to 2 min) and a job that takes 10 minutes. One
// refresh is one export call, one download, at most 15 status polls, and at
// most one login per 25 minutes. scripts/bench.sh prints the ECONOMY lines.
func TestRefreshEconomy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fake.Options{CreatedFor: time.Minute, ProcessingFor: 9 * time.Minute}, nil)
	refresh := func() (calls, time.Duration) {
		t.Helper()
		before, start := countCalls(e.srv), e.clock.Now()
		to := e.clock.Now()
		from := day(to).AddDate(0, 0, -45)
		res, err := e.client.ExportUsage(context.Background(), from, to, func(*informatica.UsageRow) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		if res.Jobs != 1 || res.Rows == 0 {
			t.Fatalf("refresh ran %d jobs, read %d rows", res.Jobs, res.Rows)
		}
		return countCalls(e.srv).minus(before), e.clock.Now().Sub(start)
	}
	check := func(what string, c calls, logins int) {
		t.Helper()
		if c[fake.EndpointExport] != 1 || c[fake.EndpointDownload] != 1 || c[fake.EndpointStatus] > 15 || c[fake.EndpointLogin] != logins {
			t.Errorf("%s: calls %v, want 1 export, 1 download, at most 15 status polls, %d login(s)", what, c, logins)
		}
	}

	first, took := refresh()
	check("first refresh", first, 1)
	t.Logf("ECONOMY job=10m took=%s login=%d export=%d status=%d download=%d",
		took, first[fake.EndpointLogin], first[fake.EndpointExport], first[fake.EndpointStatus], first[fake.EndpointDownload])

	// Hourly refreshes: the session has been idle for more than 25
	// minutes each time, so each logs in once, and only once.
	start, before := e.clock.Now(), countCalls(e.srv)
	const hourly = 6
	for range hourly {
		e.clock.Advance(time.Hour - took)
		var c calls
		c, took = refresh()
		check("hourly refresh", c, 1)
	}
	total := countCalls(e.srv).minus(before)
	elapsed := e.clock.Now().Sub(start)
	t.Logf("ECONOMY schedule=1h refreshes=%d elapsed=%s logins=%d logins_per_25m=%.2f", hourly, elapsed.Round(time.Minute),
		total[fake.EndpointLogin], float64(total[fake.EndpointLogin])/(elapsed.Minutes()/25))

	// Back-to-back refreshes every 10 minutes: the session never idles 25
	// minutes, so it is reused and no refresh logs in.
	start, before = e.clock.Now(), countCalls(e.srv)
	const frequent = 12
	for range frequent {
		e.clock.Advance(max(10*time.Minute-took, 0))
		var c calls
		c, took = refresh()
		check("10-minute refresh", c, 0)
	}
	total = countCalls(e.srv).minus(before)
	elapsed = e.clock.Now().Sub(start)
	if limit := int(elapsed/(25*time.Minute)) + 1; total[fake.EndpointLogin] > limit {
		t.Errorf("%d logins in %s, want at most one per 25 minutes", total[fake.EndpointLogin], elapsed)
	}
	t.Logf("ECONOMY schedule=10m refreshes=%d elapsed=%s logins=%d logins_per_25m=%.2f", frequent, elapsed.Round(time.Minute),
		total[fake.EndpointLogin], float64(total[fake.EndpointLogin])/(elapsed.Minutes()/25))
}
