package main

import (
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipumon/informatica_exporter/collector"
)

// reloader applies a new configuration on SIGHUP or POST /-/reload. A bad
// configuration keeps the running one, and says so in its metrics and on
// the landing page.
type reloader struct {
	logger   log.Logger
	load     func() (collector.Settings, error)
	exporter *collector.Exporter
	now      func() time.Time

	// reloading keeps one reload at a time; Collect never takes it, so a
	// scrape never waits for a reload.
	reloading sync.Mutex
	mu        sync.Mutex
	last      reloadStatus
}

// reloadStatus is the outcome of the last load of the configuration.
type reloadStatus struct {
	Initial     bool      // no reload yet: the configuration loaded at start
	At          time.Time // when the last load finished
	Err         string    // why it failed; "" when it succeeded
	LastSuccess time.Time
}

var (
	reloadSuccessfulDesc = prometheus.NewDesc(
		"informatica_exporter_config_last_reload_successful",
		"1 if the last configuration reload succeeded, else 0.", nil, nil)
	reloadTimestampDesc = prometheus.NewDesc(
		"informatica_exporter_config_last_reload_success_timestamp_seconds",
		"When the configuration was last loaded successfully.", nil, nil)
)

func newReloader(logger log.Logger, load func() (collector.Settings, error), e *collector.Exporter, now func() time.Time) *reloader {
	started := now()
	return &reloader{
		logger: logger, load: load, exporter: e, now: now,
		last: reloadStatus{Initial: true, At: started, LastSuccess: started},
	}
}

func (r *reloader) reload() error {
	r.reloading.Lock()
	defer r.reloading.Unlock()
	settings, err := r.load()
	if err == nil {
		err = r.exporter.Apply(settings)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last.Initial, r.last.At, r.last.Err = false, r.now(), ""
	if err != nil {
		r.last.Err = err.Error()
		level.Error(r.logger).Log("msg", "Reload failed, keeping the running configuration", "err", err)
		return err
	}
	r.last.LastSuccess = r.last.At
	level.Info(r.logger).Log("msg", "Configuration reloaded", "accounts", len(settings.Accounts))
	return nil
}

// status returns the outcome of the last load of the configuration.
func (r *reloader) status() reloadStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

func (r *reloader) Describe(ch chan<- *prometheus.Desc) {
	ch <- reloadSuccessfulDesc
	ch <- reloadTimestampDesc
}

func (r *reloader) Collect(ch chan<- prometheus.Metric) {
	last := r.status()
	ok := 0.0
	if last.Err == "" {
		ok = 1
	}
	ch <- prometheus.MustNewConstMetric(reloadSuccessfulDesc, prometheus.GaugeValue, ok)
	ch <- prometheus.MustNewConstMetric(reloadTimestampDesc, prometheus.GaugeValue, float64(last.LastSuccess.UnixNano())/1e9)
}
