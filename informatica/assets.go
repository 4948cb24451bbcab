package informatica

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// MaxAssetDays is the longest range one ASSET job may cover [D 8].
const MaxAssetDays = 30

// AssetRow is one row of an ASSET export: an asset's IPUs on one day for one
// meter. The columns are documented (iics-metering-api.md §5.3); rows are
// read by header name. Its strings are valid UTF-8 (see ValidUTF8).
type AssetRow struct {
	MeterID, MeterName     string
	Date                   time.Time // 00:00 UTC of the row's day
	AssetName, AssetType   string
	Project, Folder        string // empty for assets deleted before Informatica processed their usage
	OrgID, OrgType         string
	Environment, EnvType   string
	Tier                   string
	IPUPerUnit, Usage, IPU float64
}

// assetJob is the ASSET export of the requesting org: no allLinkedOrgs or
// combinedMeterUsage are documented for it [D 8], so none is sent.
var assetJob = jobKind{name: KindAsset, resource: "ExportMeteringData", maxDays: MaxAssetDays, fields: map[string]string{
	"jobType": "ASSET",
}}

// ExportAssetUsage exports IPU usage by asset for [from, to] (the requesting
// org only: ASSET jobs take no allLinkedOrgs) and calls fn for every row. A
// range over 30 days runs as consecutive jobs, one at a time. fn must copy
// any string it keeps: the row is reused.
func (c *Client) ExportAssetUsage(ctx context.Context, from, to time.Time, fn func(*AssetRow) error) (ExportResult, error) {
	return c.export(ctx, assetJob, from, to, func(f *os.File, size int64) (int, error) {
		return readAssetZIP(f, size, c.cfg.Limits, fn, c.warn)
	})
}

// ReadAssetZIP reads every CSV file of an ASSET export ZIP and calls fn for
// each row, within the same limits as a summary export.
func ReadAssetZIP(r io.ReaderAt, size int64, limits Limits, fn func(*AssetRow) error) (int, error) {
	return readAssetZIP(r, size, limits, fn, nil)
}

// readAssetZIP is ReadAssetZIP, passing warnings to warn.
func readAssetZIP(r io.ReaderAt, size int64, limits Limits, fn func(*AssetRow) error, warn func(string, ...any)) (int, error) {
	var rr recordReader
	w := newWarnings(warn)
	return readZIP(r, size, limits, func(name string, r io.Reader) (int, error) {
		return readAssetCSV(&rr, name, r, fn, w)
	})
}

// The columns of an ASSET file. The first name of each is the documented
// one [D 8]; the others are the spellings of the same column in the
// SUMMARY (MeterId, OrgId...) and job-level (Date (in UTC)) reports and in
// this file's own naming style (IPUs), accepted in case a report spells it
// that way [INF]. A file needs the org, day, asset and IPU columns, and a
// meter by ID or by name: either identifies it [INF]. A row needs an org, a
// day and a meter; its asset name may be blank, as the one row that sums up
// deleted assets may have it [INF from D 19].
var (
	assetMeterID   = column{names: []string{"Meter ID", "MeterId"}}
	assetMeterName = column{names: []string{"Meter Name", "MeterName"}}
	assetDate      = column{names: []string{"Date", "Date (in UTC)"}, required: true}
	assetName      = column{names: []string{"Asset Name", "AssetName", "Asset"}, required: true}
	assetType      = column{names: []string{"Asset Type", "AssetType"}}
	assetProject   = column{names: []string{"Project", "Project Name"}}
	assetFolder    = column{names: []string{"Folder", "Folder Name"}}
	assetOrgID     = column{names: []string{"Org ID", "OrgId"}, required: true}
	assetOrgType   = column{names: []string{"Org Type", "OrgType"}}
	assetEnv       = column{names: []string{"Environment Name", "Environment"}}
	assetEnvType   = column{names: []string{"Environment Type", "EnvironmentType"}}
	assetTier      = column{names: []string{"Tier"}}
	assetRate      = column{names: []string{"IPU Per Unit", "IPURate", "IPU Rate"}}
	assetUsage     = column{names: []string{"Usage", "MeterUsage", "Meter Usage"}}
	assetIPU       = column{names: []string{"Consumption (IPUs)", "IPUs", "IPU", "Consumption"}, required: true}
)

func readAssetCSV(rr *recordReader, file string, r io.Reader, fn func(*AssetRow) error, warn *warnings) (int, error) {
	t, err := openTable(rr, file, "ASSET", r, warn)
	if t == nil || err != nil {
		return 0, err
	}
	c, err := t.indexes(assetMeterID, assetMeterName, assetDate, assetName, assetType, assetProject, assetFolder,
		assetOrgID, assetOrgType, assetEnv, assetEnvType, assetTier, assetRate, assetUsage, assetIPU)
	if err != nil {
		return 0, err
	}
	meterID, meterName, date, name, typ, project, folder, org, orgType, env, envType, tier, rate, usage, ipu :=
		c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11], c[12], c[13], c[14]
	if meterID < 0 && meterName < 0 {
		return 0, &CSVError{File: file, Line: 1, Column: assetMeterID.names[0], Err: fmt.Errorf("%w (or %q)", errMissingColumn, assetMeterName.names[0])}
	}
	t.dateColumns(date)
	var row AssetRow
	rows := 0
	for {
		ok, err := t.next()
		if !ok {
			return rows, err
		}
		row = AssetRow{
			MeterID: t.text(meterID), MeterName: t.text(meterName),
			AssetName: t.text(name), AssetType: t.text(typ),
			Project: t.text(project), Folder: t.text(folder),
			OrgID: t.text(org), OrgType: t.text(orgType),
			Environment: t.text(env), EnvType: t.text(envType), Tier: t.text(tier),
		}
		switch {
		case row.OrgID == "":
			return rows, t.bad(org, assetOrgID.names[0], errEmptyValue)
		case row.MeterID == "" && row.MeterName == "":
			if meterID >= 0 {
				return rows, t.bad(meterID, assetMeterID.names[0], errEmptyValue)
			}
			return rows, t.bad(meterName, assetMeterName.names[0], errEmptyValue)
		}
		if row.Date, err = t.day(date, assetDate.names[0]); err != nil {
			return rows, err
		}
		if row.IPUPerUnit, err = t.number(rate, assetRate.names[0]); err != nil {
			return rows, err
		}
		if row.Usage, err = t.number(usage, assetUsage.names[0]); err != nil {
			return rows, err
		}
		if row.IPU, err = t.number(ipu, assetIPU.names[0]); err != nil {
			return rows, err
		}
		if err := fn(&row); err != nil {
			return rows, t.callback(err)
		}
		rows++
	}
}
