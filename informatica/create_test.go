package informatica_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// closeAfterRequest reads the whole request, then closes the connection
// without answering: the server got the request, the client gets EOF.
func closeAfterRequest(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}

// TestCreateNotRetried: once a request to start a job may have reached
// Informatica, sending it again could start a second job, so it is not
// repeated, and the error says a job may be left running.
func TestCreateNotRetried(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault fake.Fault
		code  string
	}{
		{"connection reset", fake.Fault{Reset: true}, "error"},
		{"EOF after the request", fake.Fault{Handler: closeAfterRequest}, "error"},
		{"timeout", fake.Fault{Hang: 90 * time.Second}, "error"},
		{"500", fake.Fault{Status: http.StatusInternalServerError}, "500"},
		{"502", fake.Fault{Status: http.StatusBadGateway, Body: "<html>Bad Gateway</html>"}, "502"},
		{"504", fake.Fault{Status: http.StatusGatewayTimeout}, "504"},
	} {
		for _, kind := range []string{"summary", "project"} {
			t.Run(tc.name+"/"+kind, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, fake.Options{}, func(c *informatica.Config) { c.RequestTimeout = 200 * time.Millisecond })
				f := tc.fault
				f.Endpoint, f.Times = fake.EndpointExport, 10
				e.srv.Inject(f)
				var err error
				if kind == "summary" {
					_, _, err = e.exportDays()
				} else {
					_, err = e.client.ExportProjectUsage(context.Background(), day(t0).AddDate(0, 0, -5), t0,
						func(*informatica.ProjectRow) error { return nil })
				}
				if err == nil {
					t.Fatal("export succeeded")
				}
				if st := informatica.StageOf(err); st != informatica.StageExport {
					t.Errorf("stage %q, want export: %v", st, err)
				}
				if !errors.Is(err, informatica.ErrJobMayBeRunning) || !strings.Contains(err.Error(), "may have been left running at Informatica") {
					t.Errorf("error %q does not say a job may have been left running", err)
				}
				if got := e.codes(fake.EndpointExport); !slices.Equal(got, []string{tc.code}) {
					t.Errorf("export answers %v, want exactly one (%s)", got, tc.code)
				}
				if n := e.srv.Calls(fake.EndpointExport); n != 1 {
					t.Errorf("the fake got %d export requests, want 1", n)
				}
				if s := e.clock.Sleeps(); len(s) != 0 {
					t.Errorf("waited %v", s)
				}
			})
		}
	}
}

// refusingDialer fails the dials it is told to, the way a host that is down
// or unknown does: before a byte of the request is sent.
type refusingDialer struct {
	mu     sync.Mutex
	dials  int
	refuse func(dial int) error // nil: connect
	closed string               // a loopback address nothing listens on
}

func newRefusingDialer(t *testing.T, refuse func(dial int) error) *refusingDialer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return &refusingDialer{refuse: refuse, closed: addr}
}

func (d *refusingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.dials++
	err := d.refuse(d.dials)
	d.mu.Unlock()
	var nd net.Dialer
	if errors.Is(err, errRefused) {
		// A real refusal, from a port nothing listens on.
		return nd.DialContext(ctx, network, d.closed)
	}
	if err != nil {
		return nil, err
	}
	return nd.DialContext(ctx, network, addr)
}

var errRefused = errors.New("refuse")

// TestCreateRetriedWhenNotSent: answers that say no job was started (429,
// 503) and failures to connect at all are retried as before.
func TestCreateRetriedWhenNotSent(t *testing.T) {
	t.Parallel()
	dnsError := &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "usw3.dm-us.informaticacloud.invalid", IsNotFound: true}}
	for _, tc := range []struct {
		name   string
		fault  *fake.Fault
		refuse error
		code   string
	}{
		{"429", &fake.Fault{Status: http.StatusTooManyRequests}, nil, "429"},
		{"503", &fake.Fault{Status: http.StatusServiceUnavailable}, nil, "503"},
		{"connection refused", nil, errRefused, "error"},
		{"DNS failure", nil, dnsError, "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Every request dials anew; dial 1 is the login, 2 and 3 the
			// first two tries to start the job.
			d := newRefusingDialer(t, func(dial int) error {
				if dial == 2 || dial == 3 {
					return tc.refuse
				}
				return nil
			})
			e := newEnv(t, fake.Options{}, func(c *informatica.Config) {
				c.HTTPClient = &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
			})
			if tc.fault != nil {
				f := *tc.fault
				f.Endpoint, f.Times = fake.EndpointExport, 2
				e.srv.Inject(f)
			}
			rows, _, err := e.exportDays()
			if err != nil {
				t.Fatal(err)
			}
			checkRows(t, rows, e.servedRows())
			if got, want := e.codes(fake.EndpointExport), []string{tc.code, tc.code, "200"}; !slices.Equal(got, want) {
				t.Errorf("export answers %v, want %v", got, want)
			}
		})
	}
}

// TestIdempotentRequestsRetried: polls, downloads and logins are repeated
// after the failures a job start is not.
func TestIdempotentRequestsRetried(t *testing.T) {
	t.Parallel()
	for _, endpoint := range []string{fake.EndpointLogin, fake.EndpointStatus, fake.EndpointDownload} {
		for _, tc := range []struct {
			name  string
			fault fake.Fault
			code  string
		}{
			{"connection reset", fake.Fault{Reset: true}, "error"},
			{"EOF after the request", fake.Fault{Handler: closeAfterRequest}, "error"},
			{"502", fake.Fault{Status: http.StatusBadGateway}, "502"},
			{"504", fake.Fault{Status: http.StatusGatewayTimeout}, "504"},
		} {
			t.Run(endpoint+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, fake.Options{}, nil)
				f := tc.fault
				f.Endpoint, f.Times = endpoint, 2
				e.srv.Inject(f)
				rows, _, err := e.exportDays()
				if err != nil {
					t.Fatal(err)
				}
				checkRows(t, rows, e.servedRows())
				// net/http repeats a GET on a kept-alive connection by
				// itself, unseen, so the fake may count more requests than
				// the client reports.
				got := e.codes(endpoint)
				if len(got) < 2 || got[len(got)-1] != "200" || slices.ContainsFunc(got[:len(got)-1], func(c string) bool { return c != tc.code }) {
					t.Errorf("%s answers %v, want %s until 200", endpoint, got, tc.code)
				}
				if n := e.srv.Calls(endpoint); n != 3 {
					t.Errorf("the fake got %d %s requests, want 3", n, endpoint)
				}
			})
		}
	}
}
