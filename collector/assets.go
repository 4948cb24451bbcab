package collector

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ipumon/informatica_exporter/informatica"
)

// The asset breakdown reads ASSET exports, whose columns are documented
// (iics-metering-api.md §5.3). ASSET jobs cover the requesting org only:
// linked orgs have no asset series.
var assetLabels = []string{"org_id", "meter_id", "asset_name", "asset_type", "project", "folder", "environment"}

var assetKind = breakdownKind{
	name:   "asset",
	title:  "Asset",
	labels: assetLabels,
	families: []breakdownFamily{
		{desc: prometheus.NewDesc(
			"informatica_asset_billing_period_consumed_ipus",
			"IPUs an asset consumed on a meter in the org's current billing period, from ASSET exports (the login org only); asset_name \"other\" sums the assets beyond breakdown_max_series, project \"(none)\" the usage of deleted assets."+cached,
			assetLabels, nil)},
		{desc: prometheus.NewDesc(
			"informatica_asset_last_day_consumed_ipus",
			"IPUs an asset consumed on a meter on the org's most recent complete UTC day (see informatica_ipu_last_day_timestamp_seconds), from ASSET exports."+cached,
			assetLabels, nil), lastDay: true},
	},
	group:   2,
	maxDays: informatica.MaxAssetDays,
	export:  exportAssets,
}

func exportAssets(ctx context.Context, c *informatica.Client, run *breakdownRun, job informatica.Range) (informatica.ExportResult, error) {
	return c.ExportAssetUsage(ctx, job.Start, job.End, func(a *informatica.AssetRow) error {
		// A blank label (the asset name of the row that may sum up
		// deleted assets) is kept as it came: seriesSums.add makes it
		// "(none)" (orNone).
		run.rows.add(seriesKey{a.OrgID, a.MeterID, a.AssetName, a.AssetType, a.Project, a.Folder, a.Environment}, a.Date, rowValues{a.IPU})
		return nil
	})
}
