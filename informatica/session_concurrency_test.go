package informatica_test

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// TestConcurrentCallersShareOneLogin: the client is safe for concurrent
// use. Callers that need a session while a login is in flight wait for it
// instead of logging in again, and callers sharing a session do not race
// on it (run with -race).
//
// Not parallel: waitingForLogin counts the waiters of the whole process.
func TestConcurrentCallersShareOneLogin(t *testing.T) {
	const callers = 8
	e := newEnv(t, fake.Options{MaxActiveJobs: 4 * callers}, nil)

	// The fake holds the first login until every caller is either waiting
	// for it or has sent a login of its own: the moment a client that logs
	// in once per caller is caught.
	var logins atomic.Int32
	e.srv.Inject(fake.Fault{Endpoint: fake.EndpointLogin, Times: callers, Pass: true, Handler: func(w http.ResponseWriter, r *http.Request) {
		if logins.Add(1) > 1 {
			return
		}
		for int(logins.Load()) < callers && waitingForLogin() < callers-1 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(time.Millisecond):
			}
		}
	}})

	run := func() {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, callers)
		for range callers {
			wg.Go(func() {
				if _, err := e.client.StartExport(context.Background(), testRange); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
	run()
	if n := e.srv.Calls(fake.EndpointLogin); n != 1 {
		t.Errorf("%d callers made %d logins, want 1 shared by all", callers, n)
	}
	// The same callers again, now sharing the session: its idle time is
	// read and written by all of them at once.
	run()
	if n := e.srv.Calls(fake.EndpointLogin); n != 1 {
		t.Errorf("%d logins after the second round, want still 1", n)
	}
	if n := len(e.requests(fake.EndpointExport)); n != 2*callers {
		t.Errorf("%d export requests, want %d", n, 2*callers)
	}
	for _, r := range e.requests(fake.EndpointExport) {
		if r.Session != e.srv.SessionIDs()[0] {
			t.Errorf("an export request with session %q, want the one login's", r.Session)
			break
		}
	}
}

// waitingForLogin counts the goroutines waiting for a login another caller
// runs, from their stacks: nothing else shows that a goroutine is blocked
// there rather than not yet arrived.
func waitingForLogin() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "informatica.(*loginFlight).wait(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestAbandonedLoginNotShared: a caller whose context ends while it logs in
// for others does not hand them its cancellation: a waiting caller logs in
// itself.
// Not parallel, as TestConcurrentCallersShareOneLogin.
func TestAbandonedLoginNotShared(t *testing.T) {
	e := newEnv(t, fake.Options{}, nil)
	started := make(chan struct{})
	e.srv.Inject(fake.Fault{Endpoint: fake.EndpointLogin, Handler: func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done() // held until the caller gives up
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := make(chan error, 1)
	go func() {
		_, err := e.client.StartExport(ctx, testRange)
		first <- err
	}()
	<-started
	second := make(chan error, 1)
	go func() {
		_, err := e.client.StartExport(context.Background(), testRange)
		second <- err
	}()
	for waitingForLogin() < 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("the cancelled caller got %v, want context.Canceled", err)
	}
	if err := <-second; err != nil {
		t.Errorf("the waiting caller got %v, want its own login and export", err)
	}
	if n := e.srv.Calls(fake.EndpointLogin); n != 2 {
		t.Errorf("%d logins, want 2: the abandoned one and the waiting caller's", n)
	}
}
