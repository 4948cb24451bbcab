package fake

import (
	"net"
	"net/http"
	"time"
)

// Fault replaces the fake's answer to the next requests of one endpoint.
type Fault struct {
	Endpoint string // EndpointLogin, ...; "" matches every endpoint
	Times    int    // requests affected; 0 means 1

	// Status, Header and Body make the answer. Content-Type defaults to
	// application/json when Body starts with '{', else text/html.
	Status int
	Header http.Header
	Body   string

	// Reset closes the connection without answering.
	Reset bool
	// Hang holds the request this long, or until the client gives up, then
	// answers 504.
	Hang time.Duration
	// Handler, when set, answers instead of all of the above.
	Handler http.HandlerFunc
	// Pass lets the request through to the normal handler after Handler,
	// so a fault can observe or alter state and still get a real answer.
	Pass bool
}

// Inject queues faults; each applies to the next matching requests.
func (s *Server) Inject(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range faults {
		if f.Times <= 0 {
			f.Times = 1
		}
		s.faults = append(s.faults, &f)
	}
}

// ClearFaults drops every queued fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
}

// PendingFaults counts queued fault applications not yet used.
func (s *Server) PendingFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.faults {
		n += f.Times
	}
	return n
}

// takeFault returns the first queued fault for endpoint; s.mu must be held.
func (s *Server) takeFault(endpoint string) *Fault {
	for i, f := range s.faults {
		if f.Endpoint != "" && f.Endpoint != endpoint {
			continue
		}
		f.Times--
		if f.Times == 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		return f
	}
	return nil
}

// apply answers r; it returns false when the request should go on to the
// normal handler.
func (f *Fault) apply(w http.ResponseWriter, r *http.Request) bool {
	switch {
	case f.Handler != nil:
		f.Handler(w, r)
		return !f.Pass
	case f.Reset:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if tcp, ok := conn.(*net.TCPConn); ok {
					tcp.SetLinger(0) // a RST, not an orderly close
				}
				conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler)
	case f.Hang > 0:
		t := time.NewTimer(f.Hang)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusGatewayTimeout)
		return true
	}
	for k, v := range f.Header {
		w.Header()[k] = v
	}
	if w.Header().Get("Content-Type") == "" {
		ct := "text/html"
		if len(f.Body) > 0 && f.Body[0] == '{' {
			ct = "application/json"
		}
		w.Header().Set("Content-Type", ct)
	}
	status := f.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	w.Write([]byte(f.Body))
	return true
}
