package collector

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipumon/informatica_exporter/usage"
)

// cached ends the HELP of every gauge computed from export data: the value is
// as old as the last export, not as old as the scrape.
const cached = " Cached from an Informatica export job refreshed every refresh.interval."

// family is a metric family the exporter makes series of: its
// description and its label names, in the order a series gives their
// values (prometheus.Desc does not tell them).
type family struct {
	desc   *prometheus.Desc
	labels []string
}

func newFamily(name, help string, labels []string) family {
	return family{desc: prometheus.NewDesc(name, help, labels, nil), labels: labels}
}

// usageFamily is one family of the usage metrics: what render computes
// from an org's view of the summary export. Adding a family is adding an
// entry to usageFamilies: Describe, the encoded exposition and the promhttp
// fallback (protobuf, name[] filters) all derive from the table. Its
// labels are among those usageLabelValue knows.
type usageFamily struct {
	family
	// orgValue is the value of the org's one series, seriesValue that of
	// one of its meters; exactly one is set. false: no series.
	orgValue    func(v *usage.OrgView) (float64, bool)
	seriesValue func(v *usage.OrgView, s *usage.SeriesView) (float64, bool)
}

// orgFamily is a family with one series per org.
func orgFamily(name, help string, labels []string, value func(*usage.OrgView) (float64, bool)) usageFamily {
	for _, l := range labels {
		if !slices.Contains(orgLabels, l) {
			panic("usage family " + name + ": an org's own series has no label " + l)
		}
	}
	return usageFamily{family: newFamily(name, help, labels), orgValue: value}
}

// seriesFamily is a family with one series per org and meter.
func seriesFamily(name, help string, value func(*usage.OrgView, *usage.SeriesView) (float64, bool)) usageFamily {
	return usageFamily{family: newFamily(name, help, seriesLabels), seriesValue: value}
}

// orgLabels are the labels an org's own series can have.
var orgLabels = []string{"account", "org_id", "org_name", "org_type", "parent_org_id", "dev_org"}

// usageLabelValue is the value of the label name of a series of account,
// org and meter (nil for an org's own series, which orgFamily keeps to
// orgLabels); tree is the account's org tree, nil when it has none.
func usageLabelValue(name, account string, org *usage.OrgInfo, meter *usage.MeterInfo, tree *orgTree) string {
	switch name {
	case "parent_org_id":
		parent, _ := tree.orgLabels(org.ID)
		return parent
	case "dev_org":
		_, dev := tree.orgLabels(org.ID)
		return dev
	case "account":
		return account
	case "org_id":
		return org.ID
	case "org_name":
		return org.Name
	case "org_type":
		return org.Type
	case "meter_id":
		return meter.ID
	case "meter_name":
		return meter.Name
	}
	return "" // orgFamily and seriesFamily let no other name through
}

// seriesLabels are the labels of an org and meter's usage series.
var seriesLabels = []string{"org_id", "org_name", "meter_id", "meter_name"}

// usageFamilies are the usage metrics; render keeps their series in this
// order, each family in the order the registry sorts it in.
var usageFamilies = [...]usageFamily{
	orgFamily("informatica_org_info",
		"Orgs in the account's export, with their names and types; with the account's org_tree read, parent_org_id (empty for an org without a parent) and dev_org (true or false) for the orgs in the tree. Always 1."+cached,
		[]string{"account", "org_id", "org_name", "org_type", "parent_org_id", "dev_org"},
		func(*usage.OrgView) (float64, bool) { return 1, true }),
	orgFamily("informatica_ipu_billing_period_start_timestamp_seconds",
		"00:00 UTC of the first day of the org's current billing period."+cached,
		[]string{"org_id"},
		func(v *usage.OrgView) (float64, bool) { return float64(v.Period.Start), v.HasPeriod }),
	orgFamily("informatica_ipu_billing_period_end_timestamp_seconds",
		"00:00 UTC of the last day of the org's current billing period."+cached,
		[]string{"org_id"},
		func(v *usage.OrgView) (float64, bool) { return float64(v.Period.End), v.HasPeriod }),
	orgFamily("informatica_ipu_last_day_timestamp_seconds",
		"00:00 UTC of the day that informatica_ipu_last_day_consumed_ipus describes."+cached,
		[]string{"org_id"},
		func(v *usage.OrgView) (float64, bool) { return float64(usage.DayTime(v.LastDay).Unix()), v.HasLastDay }),
	seriesFamily("informatica_ipu_billing_period_consumed_ipus",
		"IPUs consumed in the org's current billing period up to the newest data."+cached,
		func(v *usage.OrgView, s *usage.SeriesView) (float64, bool) { return s.PeriodIPU, v.HasPeriod }),
	seriesFamily("informatica_meter_billing_period_usage",
		"Meter usage in the current billing period, in the meter's own unit (label scalar of informatica_meter_info)."+cached,
		func(v *usage.OrgView, s *usage.SeriesView) (float64, bool) { return s.PeriodUsage, v.HasPeriod }),
	seriesFamily("informatica_ipu_last_day_consumed_ipus",
		"IPUs consumed on the org's most recent complete UTC day in the data (see informatica_ipu_last_day_timestamp_seconds)."+cached,
		func(v *usage.OrgView, s *usage.SeriesView) (float64, bool) { return s.LastDayIPU, v.HasLastDay }),
	seriesFamily("informatica_meter_ipu_rate",
		"IPUs per unit of meter usage (IPURate), from the newest row that has one."+cached,
		func(_ *usage.OrgView, s *usage.SeriesView) (float64, bool) { return s.Rate, s.HasRate }),
}

// descs are the other metrics this collector exports, except build_info
// which client_golang's version collector provides.
var (
	entitlementDesc = prometheus.NewDesc(
		"informatica_ipu_entitlement_ipus",
		"IPUs contracted per billing period, from the account's ipu_entitlement setting, on the account's login org.",
		[]string{"account", "org_id"}, nil)
	ipuPriceDesc = prometheus.NewDesc(
		"informatica_ipu_price",
		"Price of one IPU in the currency, from the account's ipu_price setting.",
		[]string{"account", "currency"}, nil)
	meterInfoDesc = prometheus.NewDesc(
		"informatica_meter_info",
		"Meters in the exports, with their unit (scalar) and category. Always 1."+cached,
		[]string{"meter_id", "meter_name", "scalar", "metric_category"}, nil)

	upDesc = prometheus.NewDesc(
		"informatica_up",
		"1 if the account's last refresh succeeded, else 0.",
		[]string{"account"}, nil)
	lastSuccessDesc = prometheus.NewDesc(
		"informatica_exporter_last_refresh_success_timestamp_seconds",
		"When the account's last successful refresh finished.",
		[]string{"account"}, nil)
	lastDurationDesc = prometheus.NewDesc(
		"informatica_exporter_last_refresh_duration_seconds",
		"How long the account's last refresh took, successful or not.",
		[]string{"account"}, nil)
	nextRefreshDesc = prometheus.NewDesc(
		"informatica_exporter_next_refresh_timestamp_seconds",
		"When the account's next refresh is due.",
		[]string{"account"}, nil)
	refreshesDesc = prometheus.NewDesc(
		"informatica_exporter_refreshes_total",
		"Refreshes the account has finished, successful or not.",
		[]string{"account"}, nil)
	failuresDesc = prometheus.NewDesc(
		"informatica_exporter_refresh_failures_total",
		"Failed refreshes of the account, by the stage that failed: login, export, poll, download or parse.",
		[]string{"account", "stage"}, nil)
	exportRowsDesc = prometheus.NewDesc(
		"informatica_exporter_export_rows",
		"CSV rows read in the account's last successful refresh.",
		[]string{"account"}, nil)
	exportPartialDesc = prometheus.NewDesc(
		"informatica_exporter_export_partial",
		"1 if a job of the account's last successful refresh ended PARTIAL_SUCCESS: some linked orgs may lack data.",
		[]string{"account"}, nil)
	apiRequestsDesc = prometheus.NewDesc(
		"informatica_exporter_api_requests_total",
		"Requests sent to Informatica, by endpoint and HTTP status code (\"error\" when no answer arrived).",
		[]string{"account", "endpoint", "code"}, nil)
	rowsIgnoredDesc = prometheus.NewDesc(
		"informatica_exporter_rows_ignored_total",
		"Export rows read but not used as usage, by reason: future_date for rows dated after tomorrow (UTC).",
		[]string{"account", "reason"}, nil)
	callbacksDesc = prometheus.NewDesc(
		"informatica_exporter_callbacks_total",
		"Export job status callbacks received on /-/callback, by result: matched (named a job in flight, whose status is then polled at once, within a rate limit), unmatched (named no job in flight), invalid (refused: not JSON, or larger than 64 KiB).",
		[]string{"result"}, nil)
)

// allDescs are the descriptions of every family but callbacks_total.
var allDescs = func() []*prometheus.Desc {
	var out []*prometheus.Desc
	for _, f := range usageFamilies {
		out = append(out, f.desc)
	}
	out = append(out, entitlementDesc, ipuPriceDesc, meterInfoDesc,
		upDesc, lastSuccessDesc, lastDurationDesc, nextRefreshDesc, refreshesDesc, failuresDesc,
		exportRowsDesc, exportPartialDesc, apiRequestsDesc, rowsIgnoredDesc)
	out = append(out, breakdownDescs()...)
	return append(out, contractDescs()...)
}()
