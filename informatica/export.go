package informatica

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// MaxSummaryDays is the longest range one summary export job may cover.
const MaxSummaryDays = 180

// Job statuses documented for GET .../ExportMeteringData/<jobId>.
const (
	StatusCreated        = "CREATED"
	StatusProcessing     = "PROCESSING"
	StatusSuccess        = "SUCCESS"
	StatusPartialSuccess = "PARTIAL_SUCCESS"
	StatusFailed         = "FAILED"
)

// apiTime is the request date format: ISO 8601 in UTC, as in every
// documented example.
const apiTime = "2006-01-02T15:04:05Z"

// Range is a span of time an export job covers, both ends inclusive.
type Range struct {
	Start, End time.Time
}

// SplitRange cuts [from, to] into consecutive ranges of at most maxDays
// calendar days each. Every range but the last ends one second before the
// next begins; with from at 00:00 UTC, as the exporter passes it, no day is
// exported twice.
func SplitRange(from, to time.Time, maxDays int) []Range {
	var out []Range
	for start := from; !start.After(to); {
		next := start.AddDate(0, 0, maxDays)
		end := next.Add(-time.Second)
		if end.After(to) {
			end = to
		}
		out = append(out, Range{Start: start, End: end})
		start = next
	}
	return out
}

// ExportResult describes a finished export.
type ExportResult struct {
	Jobs    int
	Rows    int
	Partial bool   // at least one job ended PARTIAL_SUCCESS
	Message string // the errorMessage of a partial job, shortened
}

// ExportUsage exports summary IPU usage for [from, to] and calls fn for every
// CSV row, in file order. A range over 180 days runs as consecutive jobs, one
// at a time. fn must copy any string it keeps: the row is reused.
func (c *Client) ExportUsage(ctx context.Context, from, to time.Time, fn func(*UsageRow) error) (ExportResult, error) {
	return c.export(ctx, c.summaryJob(), from, to, func(f *os.File, size int64) (int, error) {
		return ReadUsageZIP(f, size, c.cfg.Limits, fn)
	})
}

// jobKind is a type of export job: the resource that starts it, the fields
// that select it, and the longest range one job may cover.
type jobKind struct {
	resource string
	fields   map[string]string
	maxDays  int
}

// summaryJob is the summary export of the configured resource.
func (c *Client) summaryJob() jobKind {
	combined := boolFlag(c.cfg.CombinedMeterUsage)
	if c.cfg.SummaryAPI == ExportMeteringData {
		return jobKind{resource: "ExportMeteringData", maxDays: MaxSummaryDays, fields: map[string]string{
			"jobType": "SUMMARY", "allLinkedOrgs": "TRUE", "combinedMeterUsage": combined}}
	}
	return jobKind{resource: "ExportMeteringDataAllLinkedOrgsAcrossRegion", maxDays: MaxSummaryDays,
		fields: map[string]string{"combinedMeterUsage": combined}}
}

// export runs consecutive jobs of one kind over [from, to], one at a time,
// and reads each job's ZIP with read.
func (c *Client) export(ctx context.Context, kind jobKind, from, to time.Time, read func(*os.File, int64) (int, error)) (ExportResult, error) {
	var res ExportResult
	for _, r := range SplitRange(from.UTC(), to.UTC(), kind.maxDays) {
		res.Jobs++
		id, err := c.startJob(ctx, kind, r)
		if err != nil {
			return res, err
		}
		status, err := c.WaitForJob(ctx, id)
		if err != nil {
			return res, err
		}
		if status.Status == StatusPartialSuccess {
			res.Partial = true
			res.Message = status.ErrorMessage
		}
		rows, err := c.download(ctx, id, read)
		res.Rows += rows
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// JobStatus is the part of a job's JSON this client uses. JSON field matching
// is case-insensitive, so both documented spellings, jobId and jobID, land in
// JobID.
type JobStatus struct {
	JobID        string `json:"jobId"`
	Status       string `json:"status"`
	ErrorMessage string `json:"errorMessage"`
}

// StartExport starts a summary export job for r and returns its ID.
func (c *Client) StartExport(ctx context.Context, r Range) (string, error) {
	return c.startJob(ctx, c.summaryJob(), r)
}

// startJob starts an export job of a kind for r and returns its ID.
func (c *Client) startJob(ctx context.Context, kind jobKind, r Range) (string, error) {
	body := map[string]string{
		"startDate": r.Start.UTC().Format(apiTime),
		"endDate":   r.End.UTC().Format(apiTime),
	}
	maps.Copy(body, kind.fields)
	fail := func(err error) (string, error) {
		return "", withStage(StageExport, fmt.Errorf("start export %s to %s: %w",
			r.Start.UTC().Format(apiTime), r.End.UTC().Format(apiTime), err))
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return fail(err)
	}
	resp, err := c.call(ctx, request{
		endpoint: EndpointExport,
		method:   http.MethodPost,
		path:     meteringPath + kind.resource,
		body:     payload,
		accept:   "application/json",
		timeout:  c.cfg.RequestTimeout,
	})
	if err != nil {
		return fail(err)
	}
	var st JobStatus
	if err := c.decodeJSON(resp, &st); err != nil {
		return fail(err)
	}
	st.JobID = strings.TrimSpace(st.JobID)
	if st.JobID == "" {
		return fail(errors.New("response has no jobId"))
	}
	if strings.EqualFold(strings.TrimSpace(st.Status), StatusFailed) {
		return fail(fmt.Errorf("job %s failed at once: %s", st.JobID, c.jobMessage(st.ErrorMessage)))
	}
	return st.JobID, nil
}

// WaitForJob polls a job until it ends. The first poll waits PollInterval;
// the delay doubles up to MaxPollInterval. It returns the final status for
// SUCCESS and PARTIAL_SUCCESS, and an error for FAILED, any status this
// client does not know, or a job still running after JobTimeout.
func (c *Client) WaitForJob(ctx context.Context, id string) (JobStatus, error) {
	clock := c.cfg.Clock
	deadline := clock.Now().Add(c.cfg.JobTimeout)
	delay := c.cfg.PollInterval
	for {
		if remaining := deadline.Sub(clock.Now()); delay > remaining {
			delay = max(remaining, 0)
		}
		if err := clock.Sleep(ctx, delay); err != nil {
			return JobStatus{}, withStage(StagePoll, fmt.Errorf("wait for export job %s: %w", id, err))
		}
		st, err := c.jobStatus(ctx, id)
		if err != nil {
			return st, withStage(StagePoll, fmt.Errorf("poll export job %s: %w", id, err))
		}
		switch st.Status {
		case StatusSuccess, StatusPartialSuccess:
			return st, nil
		case StatusCreated, StatusProcessing:
		case StatusFailed:
			return st, withStage(StagePoll, fmt.Errorf("export job %s failed: %s", id, st.ErrorMessage))
		default:
			return st, withStage(StagePoll, fmt.Errorf("export job %s has unknown status %q", id, Shorten(st.Status, 40)))
		}
		if !clock.Now().Before(deadline) {
			return st, withStage(StagePoll, fmt.Errorf("export job %s still %s after %s (refresh.job_timeout)", id, st.Status, c.cfg.JobTimeout))
		}
		delay = min(delay*2, c.cfg.MaxPollInterval)
	}
}

func (c *Client) jobStatus(ctx context.Context, id string) (JobStatus, error) {
	resp, err := c.call(ctx, request{
		endpoint: EndpointStatus,
		method:   http.MethodGet,
		path:     meteringPath + "ExportMeteringData/" + url.PathEscape(id),
		accept:   "application/json",
		timeout:  c.cfg.RequestTimeout,
	})
	if err != nil {
		return JobStatus{}, err
	}
	var st JobStatus
	if err := c.decodeJSON(resp, &st); err != nil {
		return JobStatus{}, err
	}
	st.Status = strings.ToUpper(strings.TrimSpace(c.redact(st.Status)))
	st.ErrorMessage = c.jobMessage(st.ErrorMessage)
	return st, nil
}

// jobMessage makes a job's errorMessage fit for a log line: it can hold raw
// upstream text, HTML included.
func (c *Client) jobMessage(msg string) string {
	if msg = Shorten(c.redact(msg), 300); msg == "" {
		return "no errorMessage given"
	}
	return msg
}

// Download fetches a finished summary job's ZIP and calls fn for every usage
// row in its CSV files.
func (c *Client) Download(ctx context.Context, id string, fn func(*UsageRow) error) (int, error) {
	return c.download(ctx, id, func(f *os.File, size int64) (int, error) {
		return ReadUsageZIP(f, size, c.cfg.Limits, fn)
	})
}

// download fetches a finished job's ZIP and reads it with read. The ZIP is
// spooled to a temporary file, so memory stays flat whatever its size.
// Errors of the archive itself count as stage download, those of its rows
// as stage parse.
func (c *Client) download(ctx context.Context, id string, read func(*os.File, int64) (int, error)) (int, error) {
	fail := func(stage Stage, err error) (int, error) {
		return 0, withStage(stage, fmt.Errorf("download export %s: %w", id, err))
	}
	resp, err := c.call(ctx, request{
		endpoint: EndpointDownload,
		method:   http.MethodGet,
		path:     meteringPath + "ExportMeteringData/" + url.PathEscape(id) + "/download",
		accept:   "application/zip, application/octet-stream;q=0.9, */*;q=0.1",
		timeout:  c.cfg.DownloadTimeout,
	})
	if err != nil {
		return fail(StageDownload, err)
	}
	defer resp.Body.Close()

	f, err := os.CreateTemp(c.cfg.TempDir, "informatica-export-*.zip")
	if err != nil {
		return fail(StageDownload, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()

	limit := c.cfg.Limits.MaxDownloadBytes
	n, err := io.Copy(f, io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fail(StageDownload, fmt.Errorf("after %d bytes: %w", n, errors.New(c.redact(err.Error()))))
	}
	if n > limit {
		return fail(StageDownload, fmt.Errorf("ZIP is larger than %d bytes", limit))
	}
	if err := checkZIPMagic(f, n, resp.Header.Get("Content-Type"), c.redact); err != nil {
		return fail(StageDownload, err)
	}
	rows, err := read(f, n)
	if err != nil {
		var ze *ZIPError
		if errors.As(err, &ze) {
			return rows, withStage(StageDownload, fmt.Errorf("download export %s: %w", id, err))
		}
		return rows, withStage(StageParse, fmt.Errorf("parse export %s: %w", id, err))
	}
	return rows, nil
}

// checkZIPMagic tells an error page served with status 200 from a ZIP, so
// the error names what arrived instead of a bare "not a valid zip file".
func checkZIPMagic(f *os.File, size int64, contentType string, redact func(string) string) error {
	head := make([]byte, 120)
	n, _ := f.ReadAt(head, 0)
	head = head[:n]
	if n >= 4 && head[0] == 'P' && head[1] == 'K' {
		return nil
	}
	return fmt.Errorf("response is not a ZIP archive (Content-Type %q, %d bytes starting %q)",
		contentType, size, Shorten(redact(string(head)), 60))
}

func boolFlag(b bool) string {
	if b {
		return "TRUE"
	}
	return "FALSE"
}
