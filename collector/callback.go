package collector

import (
	"strings"
	"sync/atomic"

	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
)

// Results of a callback, the values of the label result of
// informatica_exporter_callbacks_total.
const (
	// CallbackMatched: the callback named a job in flight, whose poller
	// was woken (or had been woken as often as its rate limit allows).
	CallbackMatched = "matched"
	// CallbackUnmatched: a well-formed callback that names no job in
	// flight: a job that already ended, another exporter's, or none.
	CallbackUnmatched = "unmatched"
	// CallbackInvalid: a callback refused, as not JSON or too large.
	CallbackInvalid = "invalid"
)

// callbackCounts count the callbacks received, by result. They belong to
// the Exporter, not to an account: a callback names a job, and which
// account's job it is is only known when it matches.
type callbackCounts struct {
	matched, unmatched, invalid atomic.Uint64
}

// Callback takes a status callback from Informatica that names the given
// job IDs, as a hint: the poller of each job in flight among them, in any
// account, polls its job at once. It reports whether any was in flight, and
// counts the callback as matched or unmatched. It never calls Informatica
// itself.
func (e *Exporter) Callback(jobIDs ...string) bool {
	e.mu.RLock()
	accounts := e.accounts
	e.mu.RUnlock()
	matched := false
	for _, a := range accounts {
		// An account replaced on reload may still be finishing its job.
		for inst := a; inst != nil; inst = inst.predecessor.Load() {
			for _, id := range jobIDs {
				if inst.client.Wake(id) {
					matched = true
					level.Debug(inst.logger).Log("msg", "Callback for an export job in flight: polling its status at once", "job_id", strings.TrimSpace(id))
				}
			}
		}
	}
	if matched {
		e.callbacks.matched.Add(1)
	} else {
		e.callbacks.unmatched.Add(1)
	}
	return matched
}

// InvalidCallback counts a callback that was refused.
func (e *Exporter) InvalidCallback() {
	e.callbacks.invalid.Add(1)
}

// collectCallbacks publishes the callback counters, every result from the
// start.
func (e *Exporter) collectCallbacks(ch chan<- prometheus.Metric) {
	for _, c := range []struct {
		result string
		n      *atomic.Uint64
	}{
		{CallbackMatched, &e.callbacks.matched},
		{CallbackUnmatched, &e.callbacks.unmatched},
		{CallbackInvalid, &e.callbacks.invalid},
	} {
		ch <- prometheus.MustNewConstMetric(callbacksDesc, prometheus.CounterValue, float64(c.n.Load()), c.result)
	}
}
