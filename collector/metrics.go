package collector

import "github.com/prometheus/client_golang/prometheus"

// cached ends the HELP of every gauge computed from export data: the value is
// as old as the last export, not as old as the scrape.
const cached = " Cached from an Informatica export job refreshed every refresh.interval."

var usageLabels = []string{"org_id", "org_name", "meter_id", "meter_name"}

// descs are every metric this collector exports, except build_info which
// client_golang's version collector provides.
var (
	billingPeriodConsumedDesc = prometheus.NewDesc(
		"informatica_ipu_billing_period_consumed_ipus",
		"IPUs consumed in the org's current billing period up to the newest data."+cached,
		usageLabels, nil)
	lastDayConsumedDesc = prometheus.NewDesc(
		"informatica_ipu_last_day_consumed_ipus",
		"IPUs consumed on the org's most recent complete UTC day in the data (see informatica_ipu_last_day_timestamp_seconds)."+cached,
		usageLabels, nil)
	meterUsageDesc = prometheus.NewDesc(
		"informatica_meter_billing_period_usage",
		"Meter usage in the current billing period, in the meter's own unit (label scalar of informatica_meter_info)."+cached,
		usageLabels, nil)
	meterRateDesc = prometheus.NewDesc(
		"informatica_meter_ipu_rate",
		"IPUs per unit of meter usage (IPURate), from the newest row that has one."+cached,
		usageLabels, nil)
	periodStartDesc = prometheus.NewDesc(
		"informatica_ipu_billing_period_start_timestamp_seconds",
		"00:00 UTC of the first day of the org's current billing period."+cached,
		[]string{"org_id"}, nil)
	periodEndDesc = prometheus.NewDesc(
		"informatica_ipu_billing_period_end_timestamp_seconds",
		"00:00 UTC of the last day of the org's current billing period."+cached,
		[]string{"org_id"}, nil)
	lastDayTimestampDesc = prometheus.NewDesc(
		"informatica_ipu_last_day_timestamp_seconds",
		"00:00 UTC of the day that informatica_ipu_last_day_consumed_ipus describes."+cached,
		[]string{"org_id"}, nil)
	entitlementDesc = prometheus.NewDesc(
		"informatica_ipu_entitlement_ipus",
		"IPUs contracted per billing period, from the account's ipu_entitlement setting, on the account's login org.",
		[]string{"account", "org_id"}, nil)
	ipuPriceDesc = prometheus.NewDesc(
		"informatica_ipu_price",
		"Price of one IPU in the currency, from the account's ipu_price setting.",
		[]string{"account", "currency"}, nil)
	orgInfoDesc = prometheus.NewDesc(
		"informatica_org_info",
		"Orgs in the account's export, with their names and types. Always 1."+cached,
		[]string{"account", "org_id", "org_name", "org_type"}, nil)
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

var allDescs = append([]*prometheus.Desc{
	billingPeriodConsumedDesc, lastDayConsumedDesc, meterUsageDesc, meterRateDesc,
	periodStartDesc, periodEndDesc, lastDayTimestampDesc, entitlementDesc, ipuPriceDesc, orgInfoDesc, meterInfoDesc,
	upDesc, lastSuccessDesc, lastDurationDesc, nextRefreshDesc, refreshesDesc, failuresDesc,
	exportRowsDesc, exportPartialDesc, apiRequestsDesc, rowsIgnoredDesc,
}, breakdownDescs()...)
