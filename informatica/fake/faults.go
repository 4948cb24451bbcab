package fake

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"strconv"
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

	// Ranges and CutAfter change the normal handler's answer; with
	// Handler, they need Pass. Ranges serves a 200 answer as a file that
	// takes Range requests (Accept-Ranges: bytes, an ETag, 206 with
	// Content-Range, If-Range), as http.ServeContent does; without it,
	// the fake ignores Range. CutAfter, when above 0, sends the headers
	// (Content-Length of the whole) and the first CutAfter bytes of the
	// body, then resets the connection: a download cut off midway.
	Ranges   bool
	CutAfter int64

	// next is the fake's normal handler.
	next http.Handler
}

// Inject queues faults; each applies to the next matching requests.
func (s *Server) Inject(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range faults {
		if f.Times <= 0 {
			f.Times = 1
		}
		f.next = s.mux
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
	alters := f.Ranges || f.CutAfter > 0
	switch {
	case f.Handler != nil:
		f.Handler(w, r)
		if f.Pass && alters {
			f.serveAltered(w, r)
			return true
		}
		return !f.Pass
	case alters:
		f.serveAltered(w, r)
		return true
	case f.Reset:
		resetConn(w)
		return true
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

// resetConn closes the connection of w with a RST, not an orderly close.
// What w buffers is dropped, unless flushed first.
func resetConn(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tcp, ok := conn.(*net.TCPConn); ok {
				_ = tcp.SetLinger(0) // the Close below resets or closes either way
			}
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// serveAltered answers r with the normal handler's answer, served with
// Range support when f.Ranges is set, and cut off when f.CutAfter is.
func (f *Fault) serveAltered(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	f.next.ServeHTTP(rec, r)
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	out := w
	if f.CutAfter > 0 {
		out = &cutWriter{ResponseWriter: w, left: f.CutAfter}
	}
	body := rec.body.Bytes()
	if f.Ranges && rec.status == http.StatusOK {
		sum := sha256.Sum256(body)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
		http.ServeContent(out, r, "", time.Time{}, bytes.NewReader(body))
	} else {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		out.WriteHeader(rec.status)
		out.Write(body)
	}
	if f.CutAfter > 0 {
		http.NewResponseController(w).Flush()
		resetConn(w)
	}
}

// recorder keeps an answer for serveAltered to change.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(status int)      { r.status = status }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

// cutWriter passes on the first left bytes of a body and drops the rest.
type cutWriter struct {
	http.ResponseWriter
	left int64
}

func (c *cutWriter) Write(b []byte) (int, error) {
	n := int(min(int64(len(b)), c.left))
	if n > 0 {
		if _, err := c.ResponseWriter.Write(b[:n]); err != nil {
			return 0, err
		}
		c.left -= int64(n)
	}
	return len(b), nil
}
