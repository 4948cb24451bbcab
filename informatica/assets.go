package informatica

import (
	"context"
	"errors"
	"io"
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

// ExportAssetUsage exports IPU usage by asset for [from, to] (the requesting
// org only: ASSET jobs take no allLinkedOrgs) and calls fn for every row. A
// range over 30 days runs as consecutive jobs, one at a time. fn must copy
// any string it keeps: the row is reused.
func (c *Client) ExportAssetUsage(ctx context.Context, from, to time.Time, fn func(*AssetRow) error) (ExportResult, error) {
	return ExportResult{}, errors.New("ExportAssetUsage: not implemented yet")
}

// ReadAssetZIP reads every CSV file of an ASSET export ZIP and calls fn for
// each row, within the same limits as a summary export.
func ReadAssetZIP(r io.ReaderAt, size int64, limits Limits, fn func(*AssetRow) error) (int, error) {
	return 0, errors.New("ReadAssetZIP: not implemented yet")
}
