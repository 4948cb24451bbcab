package fake

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// Informatica posts a job's status to the job's callbackUrl when the job
// ends; the body of that post is not documented, so the fake posts what it
// answers to a status request for the job. A post that fails is not
// repeated: a callback is best-effort.

// scheduleCallback arranges for j's status to be posted when j ends, when
// jobs age in real time; s.mu must be held.
func (s *Server) scheduleCallback(j *job) {
	if !s.autoCallbacks || j.callback == "" || j.outcome.Never {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(s.opts.CreatedFor+s.opts.ProcessingFor, func() {
		s.mu.Lock()
		live := s.callbackTimers[t]
		delete(s.callbackTimers, t)
		s.mu.Unlock()
		if live {
			s.postCallbacks(j.id)
		}
	})
	s.callbackTimers[t] = true
}

// DeliverCallbacks posts the status of every job that has ended, has a
// callbackUrl and has not had its status posted yet, and returns once the
// posts are answered or have failed. Tests whose JobClock is not the real
// one call it where Informatica would post; with the real one the fake
// posts by itself. It returns how many posts it sent.
func (s *Server) DeliverCallbacks() int {
	return s.postCallbacks("")
}

// postCallbacks posts the status of the ended jobs whose callbacks are due:
// the job id, or every job when id is empty.
func (s *Server) postCallbacks(id string) int {
	type post struct {
		id, url, status string
		body            []byte
	}
	var posts []post
	s.mu.Lock()
	if s.postCtx.Err() != nil {
		s.mu.Unlock()
		return 0
	}
	for _, jid := range s.jobOrder {
		j := s.jobs[jid]
		if (id != "" && jid != id) || j.callback == "" || j.posted {
			continue
		}
		st := s.jobStatus(j)
		if st == "CREATED" || st == "PROCESSING" {
			continue
		}
		j.posted = true
		body, _ := json.Marshal(s.jobJSON(j, st))
		posts = append(posts, post{id: jid, url: j.callback, status: st, body: body})
	}
	s.posting.Add(len(posts))
	s.mu.Unlock()
	// The lock is not held while posting: the receiver may well poll the
	// job's status at once.
	for _, p := range posts {
		rec := Callback{JobID: p.id, URL: p.url, Status: p.status, At: time.Now()}
		rec.Code, rec.Err = s.post(p.url, p.body)
		s.mu.Lock()
		s.callbacks = append(s.callbacks, rec)
		s.mu.Unlock()
		s.posting.Done()
	}
	return len(posts)
}

func (s *Server) post(url string, body []byte) (int, string) {
	req, err := http.NewRequestWithContext(s.postCtx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.opts.CallbackClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode, ""
}

// Callbacks returns every post of a job status to a callbackUrl so far, in
// order.
func (s *Server) Callbacks() []Callback {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Callback(nil), s.callbacks...)
}

// JobIDs returns the IDs of the jobs started so far, oldest first.
func (s *Server) JobIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.jobOrder...)
}
