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
	"strconv"
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

// jobState is what a job status means to the client.
type jobState int

const (
	jobRunning jobState = iota
	jobDone             // the ZIP can be downloaded
	jobFailed
	jobUnknown // not a status the client knows: taken as running
)

// classifyStatus maps a status, as normalizeStatus leaves it, to its
// meaning. Beyond the documented five, it knows the words other services
// and public scripts use (CANCELLED is seen in public code) for a job
// that runs, succeeded or failed. Anything else is taken as still running:
// a job whose status the client cannot read may yet end, and job_timeout
// bounds the wait, while failing at once would throw away a job that
// might succeed.
func classifyStatus(status string) jobState {
	switch status {
	case StatusCreated, StatusProcessing, "QUEUED", "IN_PROGRESS", "INPROGRESS", "RUNNING", "PENDING",
		"STARTED", "SUBMITTED", "SCHEDULED", "WAITING", "ACCEPTED":
		return jobRunning
	case StatusSuccess, StatusPartialSuccess, "COMPLETED", "SUCCEEDED", "COMPLETE", "DONE":
		return jobDone
	case StatusFailed, "FAILURE", "ERROR", "CANCELLED", "CANCELED", "ABORTED":
		return jobFailed
	}
	return jobUnknown
}

// normalizeStatus spells a status the way the documented ones are: trimmed,
// upper case, words joined by '_' ("in progress" is IN_PROGRESS).
func normalizeStatus(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return '_'
		}
		return r
	}, strings.ToUpper(strings.TrimSpace(s)))
}

// jobDeadlineKey is the context key of an export job's deadline. The
// deadline is on the client's Clock, which tests replace; a context
// deadline would run on the real one.
type jobDeadlineKey struct{}

func withJobDeadline(ctx context.Context, deadline time.Time) context.Context {
	return context.WithValue(ctx, jobDeadlineKey{}, deadline)
}

// jobDeadline returns the deadline of the export job ctx is part of.
func jobDeadline(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(jobDeadlineKey{}).(time.Time)
	return t, ok
}

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
		return readUsageZIP(f, size, c.cfg.Limits, fn, c.warn)
	})
}

// ExportUsageParts is ExportUsage with each export's rows read on every
// core (ReadUsageZIPParts): parts gets the rows of each part of each
// job's export, and Join once a job's parts are all read.
func (c *Client) ExportUsageParts(ctx context.Context, from, to time.Time, parts Parts) (ExportResult, error) {
	return c.export(ctx, c.summaryJob(), from, to, func(f *os.File, size int64) (int, error) {
		return readUsageZIPParts(f, size, c.cfg.Limits, parts, c.warn)
	})
}

// jobKind is a type of export job: the resource that starts it, the fields
// that select it, and the longest range one job may cover.
type jobKind struct {
	name     string // what it exports, as JobEvent.Kind says it
	resource string
	fields   map[string]string
	maxDays  int
}

// summaryJob is the summary export of the configured resource.
func (c *Client) summaryJob() jobKind {
	combined := boolFlag(c.cfg.CombinedMeterUsage)
	if c.cfg.SummaryAPI == ExportMeteringData {
		return jobKind{name: KindSummary, resource: "ExportMeteringData", maxDays: MaxSummaryDays, fields: map[string]string{
			"jobType": "SUMMARY", "allLinkedOrgs": "TRUE", "combinedMeterUsage": combined,
		}}
	}
	return jobKind{
		name: KindSummary, resource: "ExportMeteringDataAllLinkedOrgsAcrossRegion", maxDays: MaxSummaryDays,
		fields: map[string]string{"combinedMeterUsage": combined},
	}
}

// export runs consecutive jobs of one kind over [from, to], one at a time,
// and reads each job's ZIP with read.
func (c *Client) export(ctx context.Context, kind jobKind, from, to time.Time, read func(*os.File, int64) (int, error)) (ExportResult, error) {
	var res ExportResult
	ranges := SplitRange(from.UTC(), to.UTC(), kind.maxDays)
	for i, r := range ranges {
		res.Jobs++
		status, rows, err := c.runJob(ctx, kind, JobEvent{Kind: kind.name, Resource: kind.resource, Job: i + 1, Jobs: len(ranges), Range: r}, read)
		if status.Status == StatusPartialSuccess {
			res.Partial = true
			res.Message = status.ErrorMessage
		}
		res.Rows += rows
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// runJob runs one export job, the one job describes, from the first
// request to start it to the last byte of its ZIP, within JobTimeout, and
// reads the ZIP with read. It reports its steps through Config.OnJob.
func (c *Client) runJob(ctx context.Context, kind jobKind, job JobEvent, read func(*os.File, int64) (int, error)) (JobStatus, int, error) {
	ctx = withJobDeadline(ctx, c.cfg.Clock.Now().Add(c.cfg.JobTimeout))
	started, err := c.startJob(ctx, kind, job.Range)
	if err != nil {
		return JobStatus{}, 0, err
	}
	job.JobID = c.clean(started.JobID)
	c.jobStep(job, JobStarted, started.Status)
	status, err := c.waitForJob(ctx, started, func(st JobStatus) { c.jobStep(job, JobStatusChanged, st.Status) })
	if err != nil {
		return status, 0, err
	}
	rows, err := c.download(ctx, started.JobID, func(f *os.File, size int64) (int, error) {
		job.Bytes = size
		if c.cfg.OnExport != nil {
			job.Step, job.Status = JobDownloaded, status.Status
			c.cfg.OnExport(ExportZIP{Job: job, ZIP: f, Size: size})
		}
		return read(f, size)
	})
	if err == nil {
		job.Rows = rows
		c.jobStep(job, JobRead, status.Status)
	}
	return status, rows, err
}

// JobEvent is a step of one export job, reported through Config.OnJob.
type JobEvent struct {
	Step     JobStep
	Kind     string // what it exports: KindSummary, KindAsset, KindProject or KindTask
	Resource string // the resource that started it, e.g. ExportMeteringDataAllLinkedOrgsAcrossRegion
	// Job and Jobs: it is job number Job of the Jobs one export runs, one
	// per range of at most the resource's longest range.
	Job, Jobs int
	Range     Range
	JobID     string
	Status    string // as Informatica said it last
	// Rows and Bytes, at JobRead: the rows read from its ZIP, and the
	// ZIP's size.
	Rows  int
	Bytes int64
}

// JobStep names the steps of an export job that Config.OnJob reports.
type JobStep string

// The steps of an export job, in the order they happen.
const (
	JobStarted       JobStep = "started"    // Informatica took the request, Status is its first
	JobStatusChanged JobStep = "status"     // a poll found a status other than the last
	JobDownloaded    JobStep = "downloaded" // its ZIP is downloaded, not read yet (Config.OnExport)
	JobRead          JobStep = "read"       // its ZIP is downloaded and read
)

// The kinds of export job, as JobEvent.Kind names them.
const (
	KindSummary = "summary" // SUMMARY: usage per org, meter and day
	KindAsset   = "asset"   // ASSET: per asset
	KindProject = "project" // PROJECT_FOLDER: per project and folder
	KindTask    = "task"    // job level: per task run
)

// ExportZIP is an export job's ZIP as Config.OnExport sees it: downloaded
// and checked to start like a ZIP, before it is read.
type ExportZIP struct {
	Job  JobEvent // Step is JobDownloaded
	ZIP  io.ReaderAt
	Size int64
}

func (c *Client) jobStep(job JobEvent, step JobStep, status string) {
	if c.cfg.OnJob != nil {
		job.Step, job.Status = step, status
		c.cfg.OnJob(job)
	}
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
	st, err := c.startJob(ctx, c.summaryJob(), r)
	return st.JobID, err
}

// startJob starts an export job of a kind for r and returns its ID and
// first status, CREATED when the answer names none.
func (c *Client) startJob(ctx context.Context, kind jobKind, r Range) (JobStatus, error) {
	body := map[string]string{
		"startDate": r.Start.UTC().Format(apiTime),
		"endDate":   r.End.UTC().Format(apiTime),
	}
	maps.Copy(body, kind.fields)
	if c.cfg.CallbackURL != "" {
		body["callbackUrl"] = c.cfg.CallbackURL
	}
	fail := func(err error) (JobStatus, error) {
		return JobStatus{}, withStage(StageExport, fmt.Errorf("start export %s to %s: %w",
			r.Start.UTC().Format(apiTime), r.End.UTC().Format(apiTime), err))
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return fail(err)
	}
	resp, err := c.call(ctx, request{
		endpoint:  EndpointExport,
		method:    http.MethodPost,
		path:      meteringPath + kind.resource,
		body:      payload,
		accept:    "application/json",
		timeout:   c.cfg.RequestTimeout,
		startsJob: true,
	})
	if err != nil {
		return fail(err)
	}
	var st JobStatus
	if err := c.decodeJSON(resp, &st); err != nil {
		// Informatica's error object says no job was started; an answer
		// that cannot be read says nothing either way.
		var apiErr *APIError
		if !errors.As(err, &apiErr) {
			err = mayBeRunning(err)
		}
		return fail(err)
	}
	st.JobID = strings.TrimSpace(st.JobID)
	if st.JobID == "" {
		return fail(mayBeRunning(errors.New("response has no jobId")))
	}
	st.Status = normalizeStatus(Shorten(c.clean(st.Status), 60))
	if classifyStatus(st.Status) == jobFailed {
		return fail(fmt.Errorf("job %s %s at once: %s", c.clean(st.JobID), strings.ToLower(st.Status), c.jobMessage(st.ErrorMessage)))
	}
	if st.Status == "" {
		st.Status = StatusCreated
	}
	return st, nil
}

// WaitForJob polls a job until it ends. The first poll waits PollInterval;
// the delay doubles up to MaxPollInterval. It returns the final status for
// a job that succeeded (SUCCESS, PARTIAL_SUCCESS and synonyms), and an
// error for one that failed (FAILED and synonyms) or is still running
// after JobTimeout, or at the deadline of the export job ctx is part of,
// whichever comes first. A status it does not know is taken as running,
// and reported through Config.OnWarning once per value. Wake cuts a wait
// short: the job is polled at once, and the polls go on from there.
func (c *Client) WaitForJob(ctx context.Context, id string) (JobStatus, error) {
	return c.waitForJob(ctx, JobStatus{JobID: id, Status: StatusCreated}, nil)
}

// waitForJob is WaitForJob for a job whose last known status is last; it
// calls changed, when set, with each polled status other than the one
// before.
func (c *Client) waitForJob(ctx context.Context, last JobStatus, changed func(JobStatus)) (JobStatus, error) {
	id := last.JobID
	clock := c.cfg.Clock
	deadline := clock.Now().Add(c.cfg.JobTimeout)
	if d, ok := jobDeadline(ctx); ok && d.Before(deadline) {
		deadline = d
	}
	ctx = withJobDeadline(ctx, deadline)
	tracked := c.track(id)
	defer c.untrack(id, tracked)
	shown := c.clean(id)
	warned := map[string]bool{}
	delay := c.cfg.PollInterval
	for {
		// No poll at the deadline: a job that ended then would have no
		// time left to be downloaded in.
		left := deadline.Sub(clock.Now())
		if left > 0 {
			if err := c.sleepOrWake(ctx, min(delay, left), tracked.wake); err != nil {
				return last, withStage(StagePoll, fmt.Errorf("wait for export job %s: %w", shown, err))
			}
		}
		if !clock.Now().Before(deadline) {
			return last, withStage(StagePoll, fmt.Errorf("export job %s still %s after %s: %w", shown, last.Status, c.cfg.JobTimeout, ErrJobTimeout))
		}
		st, err := c.jobStatus(ctx, id)
		if err != nil {
			return st, withStage(StagePoll, fmt.Errorf("poll export job %s: %w", shown, err))
		}
		if changed != nil && st.Status != last.Status {
			changed(st)
		}
		last = st
		switch classifyStatus(st.Status) {
		case jobDone:
			return st, nil
		case jobFailed:
			if st.Status == StatusFailed {
				return st, withStage(StagePoll, fmt.Errorf("export job %s failed: %s", shown, st.ErrorMessage))
			}
			return st, withStage(StagePoll, fmt.Errorf("export job %s failed (%s): %s", shown, st.Status, st.ErrorMessage))
		case jobUnknown:
			if !warned[st.Status] {
				warned[st.Status] = true
				c.warn("Export job reports a status this client does not know; taking it as still running",
					"job_id", shown, "status", st.Status)
			}
		}
		delay = min(delay*2, c.cfg.MaxPollInterval)
	}
}

func (c *Client) warn(msg string, keyvals ...any) {
	if c.cfg.OnWarning != nil {
		c.cfg.OnWarning(msg, keyvals...)
	}
}

func (c *Client) jobStatus(ctx context.Context, id string) (JobStatus, error) {
	resp, err := c.call(ctx, request{
		endpoint: EndpointStatus,
		method:   http.MethodGet,
		path:     meteringPath + "ExportMeteringData/" + url.PathEscape(id),
		jobID:    id,
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
	st.Status = normalizeStatus(Shorten(c.clean(st.Status), 60))
	st.ErrorMessage = c.jobMessage(st.ErrorMessage)
	return st, nil
}

// jobMessage makes a job's errorMessage fit for a log line: it can hold raw
// upstream text, HTML included.
func (c *Client) jobMessage(msg string) string {
	if msg = Shorten(c.clean(msg), 300); msg == "" {
		return "no errorMessage given"
	}
	return msg
}

// Download fetches a finished summary job's ZIP and calls fn for every usage
// row in its CSV files.
func (c *Client) Download(ctx context.Context, id string, fn func(*UsageRow) error) (int, error) {
	return c.download(ctx, id, func(f *os.File, size int64) (int, error) {
		return readUsageZIP(f, size, c.cfg.Limits, fn, c.warn)
	})
}

// download fetches a finished job's ZIP and reads it with read. The ZIP is
// spooled to a temporary file, so memory stays flat whatever its size.
// Fetching it ends at the deadline of the export job ctx is part of, if
// any; each try also ends after DownloadTimeout. Errors of the archive
// itself count as stage download, those of its rows as stage parse.
func (c *Client) download(ctx context.Context, id string, read func(*os.File, int64) (int, error)) (int, error) {
	shown := c.clean(id)
	fail := func(stage Stage, err error) (int, error) {
		return 0, withStage(stage, fmt.Errorf("download export %s: %w", shown, err))
	}
	f, err := os.CreateTemp(c.cfg.TempDir, "informatica-export-*.zip")
	if err != nil {
		return fail(StageDownload, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()

	n, contentType, err := c.spool(ctx, id, f)
	if err != nil {
		return fail(StageDownload, err)
	}
	if err := checkZIPMagic(f, n, contentType, c.clean, c.cleanCut); err != nil {
		return fail(StageDownload, err)
	}
	rows, err := read(f, n)
	if err != nil {
		var ze *ZIPError
		if errors.As(err, &ze) {
			return rows, withStage(StageDownload, fmt.Errorf("download export %s: %w", shown, err))
		}
		return rows, withStage(StageParse, fmt.Errorf("parse export %s: %w", shown, err))
	}
	return rows, nil
}

// spool fetches job id's ZIP into f, and returns its size and
// Content-Type. The GET is idempotent, so a body cut off midway is fetched
// again, for the same job, up to MaxAttempts tries in all and within the
// export job's deadline, with one warning: from where it stopped when the
// server takes Range requests (its last whole answer said Accept-Ranges:
// bytes), else from the start. A 206 is appended only when its
// Content-Range starts where the file ends; any other answer to a Range
// request starts the file again.
func (c *Client) spool(ctx context.Context, id string, f *os.File) (int64, string, error) {
	shown := c.clean(id)
	limit := c.cfg.Limits.MaxDownloadBytes
	deadline, hasDeadline := jobDeadline(ctx)
	var (
		n           int64 // bytes in f
		ranges      bool  // the server takes Range requests
		validator   string
		contentType string
		warned      bool
	)
	for try := 1; ; try++ {
		var header http.Header
		if n > 0 && ranges {
			header = http.Header{"Range": {fmt.Sprintf("bytes=%d-", n)}}
			if validator != "" {
				header.Set("If-Range", validator)
			}
		}
		resp, err := c.call(ctx, request{
			endpoint: EndpointDownload,
			method:   http.MethodGet,
			path:     meteringPath + "ExportMeteringData/" + url.PathEscape(id) + "/download",
			jobID:    id,
			accept:   "application/zip, application/octet-stream;q=0.9, */*;q=0.1",
			timeout:  c.cfg.DownloadTimeout,
			header:   header,
		})
		var apiErr *APIError
		if header != nil && errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusRequestedRangeNotSatisfiable && try < c.cfg.MaxAttempts {
			ranges = false // and fetch it whole
			continue
		}
		if err != nil {
			return 0, "", err
		}
		if contentType == "" {
			contentType = resp.Header.Get("Content-Type")
		}
		if resp.StatusCode == http.StatusPartialContent {
			if !resumesAt(resp.Header.Get("Content-Range"), n) {
				resp.Body.Close()
				if try >= c.cfg.MaxAttempts {
					return 0, "", fmt.Errorf("a request for the rest from byte %d got Content-Range %q",
						n, Shorten(c.clean(resp.Header.Get("Content-Range")), 60))
				}
				ranges = false
				continue
			}
		} else {
			// The whole file, whatever was asked.
			if err := emptyFile(f); err != nil {
				resp.Body.Close()
				return 0, "", err
			}
			n, contentType = 0, resp.Header.Get("Content-Type")
			ranges = acceptsRanges(resp.Header)
			validator = rangeValidator(resp.Header)
		}

		body := io.Reader(resp.Body)
		if hasDeadline {
			body = &deadlineReader{r: body, clock: c.cfg.Clock, deadline: deadline}
		}
		got, err := io.Copy(f, io.LimitReader(body, limit+1-n))
		resp.Body.Close()
		n += got
		if n > limit {
			return 0, "", fmt.Errorf("ZIP is larger than %d bytes", limit)
		}
		if err == nil {
			return n, contentType, nil
		}
		switch {
		case errors.Is(err, ErrJobTimeout):
			return 0, "", fmt.Errorf("after %d bytes: %w", n, err)
		case ctx.Err() != nil:
			return 0, "", fmt.Errorf("after %d bytes: %w", n, ctx.Err())
		}
		err = errors.New(c.clean(err.Error()))
		// The request's context ran out with the job's time.
		if hasDeadline && !c.cfg.Clock.Now().Before(deadline) {
			return 0, "", fmt.Errorf("after %d bytes: %w: %w", n, err, ErrJobTimeout)
		}
		if try >= c.cfg.MaxAttempts {
			return 0, "", fmt.Errorf("after %d bytes, cut off on each of %d tries: %w", n, try, err)
		}
		if !warned {
			warned = true
			c.warn("Download of an export cut off; fetching the rest of the same job",
				"job_id", shown, "bytes", n, "resume", ranges, "err", err)
		}
		if err := c.wait(ctx, c.backoff(try), err); err != nil {
			return 0, "", fmt.Errorf("after %d bytes: %w", n, err)
		}
	}
}

// emptyFile empties f for a download that starts again from its first
// byte.
func emptyFile(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.Seek(0, io.SeekStart)
	return err
}

// acceptsRanges reports whether a server says it takes byte Range requests.
func acceptsRanges(h http.Header) bool {
	for _, v := range h.Values("Accept-Ranges") {
		for _, unit := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(unit), "bytes") {
				return true
			}
		}
	}
	return false
}

// rangeValidator returns what If-Range should carry so that a file changed
// since the first try is sent whole instead of spliced: a strong ETag, else
// Last-Modified, else nothing.
func rangeValidator(h http.Header) string {
	if etag := strings.TrimSpace(h.Get("ETag")); etag != "" && !strings.HasPrefix(etag, "W/") {
		return etag
	}
	return strings.TrimSpace(h.Get("Last-Modified"))
}

// resumesAt reports whether a 206's Content-Range, "bytes first-last/size"
// with size possibly "*", starts at offset.
func resumesAt(contentRange string, offset int64) bool {
	unit, spec, ok := strings.Cut(strings.TrimSpace(contentRange), " ")
	if !ok || !strings.EqualFold(unit, "bytes") {
		return false
	}
	span, size, ok := strings.Cut(spec, "/")
	if !ok {
		return false
	}
	first, last, ok := strings.Cut(span, "-")
	if !ok {
		return false
	}
	from, err1 := strconv.ParseInt(first, 10, 64)
	to, err2 := strconv.ParseInt(last, 10, 64)
	if err1 != nil || err2 != nil || from != offset || to < from {
		return false
	}
	if size == "*" {
		return true
	}
	total, err := strconv.ParseInt(size, 10, 64)
	return err == nil && total > to
}

// deadlineReader fails reads once the clock reaches deadline. The request's
// context ends a download that stalls, in real time; this ends one that
// trickles past the job's deadline on the client's Clock, the one the
// deadline is set on.
type deadlineReader struct {
	r        io.Reader
	clock    Clock
	deadline time.Time
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if !d.clock.Now().Before(d.deadline) {
		return 0, fmt.Errorf("download still running: %w", ErrJobTimeout)
	}
	return d.r.Read(p)
}

// checkZIPMagic tells an error page served with status 200 from a ZIP, so
// the error names what arrived instead of a bare "not a valid zip file".
// The start quoted is cleaned whole, so that a secret in it is found
// whole, and shortened after.
func checkZIPMagic(f *os.File, size int64, contentType string, clean, cleanCut func(string) string) error {
	var magic [4]byte
	if n, _ := f.ReadAt(magic[:], 0); n == len(magic) && magic[0] == 'P' && magic[1] == 'K' {
		return nil
	}
	head, cut := readHead(io.NewSectionReader(f, 0, size), maxErrorBody)
	quote := clean
	if cut {
		quote = cleanCut
	}
	text := quote(string(head))
	return fmt.Errorf("response is not a ZIP archive (Content-Type %q, %d bytes starting %q)",
		clean(contentType), size, Shorten(text, 60))
}

func boolFlag(b bool) string {
	if b {
		return "TRUE"
	}
	return "FALSE"
}
