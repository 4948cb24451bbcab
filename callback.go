package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/ipumon/informatica_exporter/collector"
)

// callbackPath is where Informatica posts the status of export jobs
// started with a callback_url: the path itself, or any path below it, so
// that users can put an unguessable token in the URL they give Informatica.
const callbackPath = "/-/callback"

// maxCallbackBody bounds a callback's body: a job status is a few hundred
// bytes.
const maxCallbackBody = 64 << 10

// maxCallbackIDs bounds the job IDs one callback may name.
const maxCallbackIDs = 16

// callbackReadTimeout bounds the time a sender may take to send the body,
// where the server sets none of its own.
const callbackReadTimeout = 30 * time.Second

// callbackHandler takes Informatica's job status callbacks. A callback is a
// hint, never data: its body is only searched for job IDs, and the poller
// of a job in flight polls the job's status at Informatica at once; the
// status in the callback is not used. The body is undocumented, so any JSON
// is accepted, and a well-formed callback is accepted whether or not it
// names a job in flight, so that a sender learns nothing about the jobs.
func callbackHandler(e *collector.Exporter, logger log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "This endpoint takes Informatica's job status callbacks: POST only.", http.StatusMethodNotAllowed)
			return
		}
		// Not every listener supports a deadline; without one the body is
		// still bounded in size.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(callbackReadTimeout))
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCallbackBody))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			e.InvalidCallback()
			level.Debug(logger).Log("msg", "Callback refused: body too large", "limit_bytes", maxCallbackBody)
			http.Error(w, fmt.Sprintf("Callback body is larger than %d bytes.", maxCallbackBody), http.StatusRequestEntityTooLarge)
			return
		case err != nil:
			e.InvalidCallback()
			level.Debug(logger).Log("msg", "Callback refused: body could not be read", "err", err)
			http.Error(w, "Callback body could not be read.", http.StatusBadRequest)
			return
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			e.InvalidCallback()
			level.Debug(logger).Log("msg", "Callback refused: body is not JSON", "bytes", len(body))
			http.Error(w, "Callback body is not JSON.", http.StatusBadRequest)
			return
		}
		ids := callbackJobIDs(v)
		if !e.Callback(ids...) {
			// The IDs are not logged: anyone who can reach the endpoint
			// chooses them. A matched one is logged by its account.
			level.Debug(logger).Log("msg", "Callback names no export job in flight", "job_ids", len(ids))
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintln(w, "Accepted")
	})
}

// callbackJobIDs finds the job IDs a callback names. The body's shape is not
// documented: a job status object names its job in jobId (jobID in
// Informatica's tables), and a wrapper may hold it one level down, as in
// {"job": {...}}; an "id" key is taken too, after those. Keys are matched
// without regard to case, values are strings, trimmed, each once.
func callbackJobIDs(v any) []string {
	var ids []string
	seen := map[string]bool{}
	add := func(x any) {
		s, ok := x.(string)
		s = strings.TrimSpace(s)
		if ok && s != "" && !seen[s] && len(ids) < maxCallbackIDs {
			seen[s] = true
			ids = append(ids, s)
		}
	}
	// below lists what is one level down: an object's values, an array's
	// elements.
	below := func(x any) []any {
		switch x := x.(type) {
		case map[string]any:
			out := make([]any, 0, len(x))
			for _, v := range x {
				out = append(out, v)
			}
			return out
		case []any:
			return x
		}
		return nil
	}
	byKey := func(x any, key string) {
		if m, ok := x.(map[string]any); ok {
			for k, v := range m {
				if strings.EqualFold(k, key) {
					add(v)
				}
			}
		}
	}
	for _, key := range []string{"jobId", "id"} {
		byKey(v, key)
		for _, child := range below(v) {
			byKey(child, key)
		}
	}
	return ids
}
