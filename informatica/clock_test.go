package informatica_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// TestRetryAfterServerClock: a Retry-After date is the server's time, so it
// is measured against the server's Date header, whatever the two clocks
// disagree by; without a usable Date it is measured against the local clock.
func TestRetryAfterServerClock(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		skew time.Duration // server clock minus local clock
		date func(server time.Time) []string
		// retryAfter is the Retry-After date relative to the server's
		// clock.
		retryAfter time.Duration
		want       time.Duration
	}{
		{"server 10m ahead", 10 * time.Minute, httpDate, 30 * time.Second, 30 * time.Second},
		{"server 10m behind", -10 * time.Minute, httpDate, 30 * time.Second, 30 * time.Second},
		{"server 3h behind", -3 * time.Hour, httpDate, 90 * time.Second, 90 * time.Second},
		{"Retry-After before Date", 10 * time.Minute, httpDate, -time.Minute, 0},
		// Without a Date header the local clock is all there is.
		{"no Date", 0, func(time.Time) []string { return nil }, 45 * time.Second, 45 * time.Second},
		{"unparseable Date", 0, func(time.Time) []string { return []string{"yesterday"} }, 45 * time.Second, 45 * time.Second},
		{"no Date, server behind", -10 * time.Minute, func(time.Time) []string { return nil }, 30 * time.Second, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fake.Options{}, nil)
			e.srv.Inject(fake.Fault{Endpoint: fake.EndpointExport, Handler: func(w http.ResponseWriter, r *http.Request) {
				server := e.clock.Now().Add(tc.skew)
				// A nil value keeps net/http from adding a Date of its own.
				w.Header()["Date"] = tc.date(server)
				w.Header().Set("Retry-After", server.Add(tc.retryAfter).Format(http.TimeFormat))
				w.WriteHeader(http.StatusServiceUnavailable)
			}})
			if _, err := e.client.StartExport(context.Background(), testRange); err != nil {
				t.Fatal(err)
			}
			if got := e.clock.Sleeps(); !slices.Equal(got, []time.Duration{tc.want}) {
				t.Errorf("delays %v, want [%v]", got, tc.want)
			}
		})
	}
}

func httpDate(server time.Time) []string { return []string{server.Format(http.TimeFormat)} }
