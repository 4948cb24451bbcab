package collector

import (
	"time"

	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/usage"
)

// Describe sends every metric's description.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
	ch <- callbacksDesc
}

// Collect publishes the health of every account and, unless Gatherer
// serves them, the data of every account whose data is younger than
// refresh.max_age.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	accounts, maxAge := e.current()
	for _, a := range accounts {
		a.collectHealth(ch)
	}
	e.collectCallbacks(ch)
	if !e.dataGathered.Load() {
		e.collectData(ch, accounts, maxAge, e.now())
	}
}

func (e *Exporter) current() ([]*account, time.Duration) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.accounts, e.refresh.MaxAge
}

// collectData sends the metrics computed from export data. An org exported
// by several accounts is published by the first of them in the
// configuration, since its usage series carry no account label.
func (e *Exporter) collectData(ch chan<- prometheus.Metric, accounts []*account, maxAge time.Duration, now time.Time) {
	orgsSeen := map[string]bool{}
	metersSeen := map[usage.MeterInfo]bool{}
	var breakdownSeen [numBreakdowns]map[string]bool
	for i := range breakdownSeen {
		breakdownSeen[i] = map[string]bool{}
	}
	var contractSeen [len(contractFamilies)]map[string]bool
	for i := range contractSeen {
		contractSeen[i] = map[string]bool{}
	}
	for _, a := range accounts {
		var usageOrgs []usage.OrgInfo
		if r := a.rendered(now, maxAge); r != nil {
			usageOrgs = r.table.Orgs
		}
		a.collectContract(ch, &contractSeen, usageOrgs, now, maxAge)
		if r := a.rendered(now, maxAge); r != nil {
			r.collect(ch, orgsSeen, a.loginTree(now, maxAge, usageOrgs))
			for _, m := range r.meters {
				if !metersSeen[m] {
					metersSeen[m] = true
					ch <- meterMetric(m)
				}
			}
		}
		for i, b := range a.freshBreakdown(now, maxAge) {
			if b == nil {
				continue
			}
			for _, o := range b.orgs {
				if breakdownSeen[i][o.id] {
					continue
				}
				breakdownSeen[i][o.id] = true
				for _, m := range o.metrics {
					ch <- m
				}
			}
		}
	}
}

// rendered returns the account's usage metrics as of now, or nil when it has
// none younger than maxAge.
func (a *account) rendered(now time.Time, maxAge time.Duration) *rendered {
	snap := a.snap.Load()
	if snap == nil || now.Sub(snap.taken) > maxAge {
		return nil
	}
	r, err := snap.metrics(now)
	if err != nil {
		// Leave this account out rather than fail every scrape; its
		// refresh rendered the same table, so this cannot happen unless a
		// new day brings metrics that were not rendered before.
		if snap.renderFailed.CompareAndSwap(false, true) {
			level.Error(a.logger).Log("msg", "Cannot serve the account's usage metrics", "err", err)
		}
		return nil
	}
	return r
}

func (a *account) collectHealth(ch chan<- prometheus.Metric) {
	s := a.state
	name := a.settings.Name
	s.mu.Lock()
	defer s.mu.Unlock()
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(upDesc, boolValue(s.up), name)
	if !s.lastSuccess.IsZero() {
		gauge(lastSuccessDesc, unixSeconds(s.lastSuccess), name)
		gauge(exportRowsDesc, float64(s.rows), name)
		gauge(exportPartialDesc, boolValue(s.partial), name)
	}
	if s.attempted {
		gauge(lastDurationDesc, s.lastDuration.Seconds(), name)
	}
	if !s.nextRefresh.IsZero() {
		gauge(nextRefreshDesc, unixSeconds(s.nextRefresh), name)
	}
	counter(refreshesDesc, s.refreshes, name)
	for _, st := range informatica.Stages {
		counter(failuresDesc, s.failures[st], name, string(st))
	}
	for k, v := range s.requests {
		counter(apiRequestsDesc, v, name, k.endpoint, k.code)
	}
	for reason, v := range s.ignored {
		counter(rowsIgnoredDesc, v, name, reason)
	}
	for i, k := range breakdownKinds {
		if t := s.breakdowns[i].lastSuccess; !t.IsZero() {
			gauge(lastBreakdownDesc, unixSeconds(t), name, k.name)
		}
	}
	for i, src := range contractSources {
		if !a.settings.Contract.On(src.name) {
			continue
		}
		counter(contractFailuresDesc, s.contract[i].failures, name, src.name)
		if t := s.contract[i].lastSuccess; !t.IsZero() {
			gauge(lastContractDesc, unixSeconds(t), name, src.name)
		}
	}
	if a.settings.Entitlement != nil && s.loginOrgID != "" {
		gauge(entitlementDesc, *a.settings.Entitlement, name, s.loginOrgID)
	}
	if a.settings.IPUPrice > 0 && a.settings.Currency != "" {
		gauge(ipuPriceDesc, a.settings.IPUPrice, name, a.settings.Currency)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}
