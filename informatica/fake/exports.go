package fake

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// jobLevel is the kind of a job started at ExportServiceJobLevelMeteringData,
// which takes no jobType [D 9].
const jobLevel = "JOB_LEVEL"

// meterSelection reads the meterId and allMeters of an export request and
// returns why it is rejected, if it is.
//
// A meterId that names no meter is rejected (400) rather than answered with
// an empty file: the docs say which IDs are valid (the "Meter IDs" pages
// [D 8,9]) but not what happens otherwise [INF], and a loud error catches a
// client that sends a meter name or a typo. A valid meter without usage in
// the range gives a file with the header alone.
func (s *Server) meterSelection(jobType string, body map[string]any) (meterID string, allMeters bool, msg string) {
	meterID, _ = body["meterId"].(string)
	meterID = strings.TrimSpace(meterID)
	switch jobType {
	case "ASSET":
		if meterID != "" {
			if _, ok := s.meter(meterID); !ok {
				return "", false, "Invalid meterId " + meterID + "."
			}
		}
		return meterID, false, ""
	case jobLevel:
		// meterId is required "when allMeters is FALSE" [D 9]; with
		// allMeters TRUE the fake ignores it [INF].
		if flag(body["allMeters"]) {
			return "", true, ""
		}
		if meterID == "" {
			return "", false, "Specify a meterId or set allMeters to TRUE."
		}
		if m, ok := s.meter(meterID); !ok || m.JobLevel == "" {
			// Only some services support job-level reports [D 17].
			return "", false, "Meter " + meterID + " does not support job-level reports."
		}
		return meterID, false, ""
	}
	// meterId is not documented for summary and project jobs.
	return "", false, ""
}

// meter finds a meter of the fake by ID.
func (s *Server) meter(id string) (Meter, bool) {
	for _, m := range s.opts.Meters {
		if m.ID == id {
			return m, true
		}
	}
	return Meter{}, false
}

// meterRows keeps the rows of the job's meter, when it has one.
func (j *job) meterRows(rows []Row) []Row {
	if j.meterID == "" {
		return rows
	}
	var out []Row
	for _, r := range rows {
		if r.Meter.ID == j.meterID {
			out = append(out, r)
		}
	}
	return out
}

// csvFile adds a CSV file to zw in the fake's CSV shape (BOM, line ends);
// the caller flushes the writer. s.mu must be held. The writes go to a ZIP
// in memory, which cannot fail, so callers drop the errors of Write.
func (s *Server) csvFile(zw *zip.Writer, name string) *csv.Writer {
	f, _ := zw.Create(name)
	if s.opts.BOM {
		_, _ = f.Write([]byte{0xEF, 0xBB, 0xBF})
	}
	cw := csv.NewWriter(f)
	cw.UseCRLF = s.opts.CRLF
	return cw
}

// header returns cols with extra appended when Options.ExtraColumns is set,
// shuffled when Options.ShuffleColumns is set; s.mu must be held.
func (s *Server) header(cols []string, extra ...string) []string {
	cols = append([]string(nil), cols...)
	if s.opts.ExtraColumns {
		cols = append(cols, extra...)
	}
	if s.opts.ShuffleColumns {
		s.rng.Shuffle(len(cols), func(i, j int) { cols[i], cols[j] = cols[j], cols[i] })
	}
	return cols
}

// record orders the values of one row as cols; a column without a value is
// empty.
func record(cols []string, vals map[string]string) []string {
	rec := make([]string, len(cols))
	for i, c := range cols {
		rec[i] = vals[c]
	}
	return rec
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// assetColumns is the documented ASSET header [D 8].
var assetColumns = []string{
	"Meter ID", "Meter Name", "Date", "Asset Name", "Asset Type", "Project", "Folder", "Org ID", "Org Type",
	"Environment Name", "Environment Type", "Tier", "IPU Per Unit", "Usage", "Consumption (IPUs)",
}

// assetZIP writes asset rows as one CSV, records them as served, and
// returns the ZIP; s.mu must be held. The file name is not documented.
func (s *Server) assetZIP(rows []AssetRow) []byte {
	s.servedAssets = append(s.servedAssets, rows...)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	cw := s.csvFile(zw, "IPU_Usage_Asset.csv")
	cols := s.header(assetColumns, "Asset ID", "Comment")
	_ = cw.Write(cols)
	for i, r := range rows {
		tier, envType := r.Tier, r.EnvironmentType
		if s.opts.NullCells && i%5 == 3 {
			tier, envType = "null", "null"
		}
		_ = cw.Write(record(cols, map[string]string{
			"Meter ID": r.Meter.ID, "Meter Name": r.Meter.Name, "Date": r.Date.Format(s.opts.DateLayout),
			"Asset Name": r.AssetName, "Asset Type": r.AssetType, "Project": r.Project, "Folder": r.Folder,
			"Org ID": r.Org.ID, "Org Type": r.Org.Type, "Environment Name": r.Environment, "Environment Type": envType,
			"Tier": tier, "IPU Per Unit": num(r.IPUPerUnit), "Usage": num(r.Usage), "Consumption (IPUs)": num(r.IPU),
			"Asset ID": id22(r.Org.ID, r.Meter.ID, r.AssetName),
		}))
	}
	cw.Flush()
	zw.Close()
	return buf.Bytes()
}

// Job-level layouts. The files are not documented (iics-metering-api.md
// §5.5): runColumns and executionColumns are the names public code reads
// [C 1], in the order it lists them; unknownColumns are made up.
var (
	runColumns = []string{
		"Task ID", "Task Name", "Task Object Name", "Task Type", "Task Run ID", "Project Name", "Folder Name",
		"Org ID", "Environment ID", "Environment", "Cores Used", "Start Time", "End Time", "Status", "Metered Value",
		"Audit Time", "OBM Task Time(s)",
	}
	executionColumns = []string{
		"Org ID", "Executed asset", "Date (in UTC)", "Execution env", "status", "Invoked by",
		"Execution type", "Execution count", "Total Execution time (in hours)", "Average Execution time (in seconds)",
	}
	unknownColumns = []string{"Job Name", "Job Run ID", "Org ID", "Started", "Finished", "Files Transferred", "Bytes Transferred", "State"}
)

// JobLevelFileName is the name of a meter's file in a job-level ZIP:
// "<Meter Name>.csv". Informatica's naming is not documented [INF]; a client
// should match the name against meter names and IDs loosely.
func JobLevelFileName(m Meter) string {
	return strings.ReplaceAll(m.Name, "/", "_") + ".csv"
}

// jobLevelZIP writes one CSV per job-level meter (only meterID's when set),
// header alone when the meter has no usage in rows, records the rows as
// served, and returns the ZIP; s.mu must be held.
func (s *Server) jobLevelZIP(d *Dataset, rows []Row, meterID string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range d.JobLevelMeters() {
		if meterID != "" && m.ID != meterID {
			continue
		}
		var mine []Row
		for _, r := range rows {
			if r.Meter.ID == m.ID {
				mine = append(mine, r)
			}
		}
		cw := s.csvFile(zw, JobLevelFileName(m))
		switch m.JobLevel {
		case JobLevelRuns:
			s.writeRuns(cw, d.TaskRunsOf(mine))
		case JobLevelExecutions:
			s.writeExecutions(cw, d.ExecutionsOf(mine))
		default:
			s.writeUnknown(cw, mine)
		}
		cw.Flush()
	}
	zw.Close()
	return buf.Bytes()
}

func (s *Server) writeRuns(cw *csv.Writer, runs []TaskRun) {
	s.servedRuns = append(s.servedRuns, runs...)
	cols := s.header(runColumns, "Runtime Environment Type")
	_ = cw.Write(cols)
	tl := s.opts.TimeLayout
	for _, r := range runs {
		_ = cw.Write(record(cols, map[string]string{
			"Task ID": r.TaskID, "Task Name": r.TaskName, "Task Object Name": r.TaskObjectName, "Task Type": r.TaskType,
			"Task Run ID": r.RunID, "Project Name": r.Project, "Folder Name": r.Folder, "Org ID": r.Org.ID,
			"Environment ID": r.EnvironmentID, "Environment": r.Environment, "Cores Used": strconv.Itoa(r.CoresUsed),
			"Start Time": r.Start.UTC().Format(tl), "End Time": r.End.UTC().Format(tl), "Status": r.Status,
			"Metered Value": num(r.IPU), "Audit Time": r.AuditTime.UTC().Format(tl),
			"OBM Task Time(s)":         strconv.Itoa(int(r.End.Sub(r.Start) / time.Second)),
			"Runtime Environment Type": "Secure Agent",
		}))
	}
}

func (s *Server) writeExecutions(cw *csv.Writer, rows []Execution) {
	s.servedExecutions = append(s.servedExecutions, rows...)
	cols := s.header(executionColumns)
	_ = cw.Write(cols)
	for _, r := range rows {
		_ = cw.Write(record(cols, map[string]string{
			"Org ID": r.Org.ID, "Executed asset": r.Asset, "Date (in UTC)": r.Date.Format(s.opts.DateLayout),
			"Execution env": r.Environment, "status": r.Status, "Invoked by": r.InvokedBy, "Execution type": r.Type,
			"Execution count": strconv.Itoa(r.Count), "Total Execution time (in hours)": num(r.TotalHours),
			"Average Execution time (in seconds)": num(r.AverageSeconds),
		}))
	}
}

// writeUnknown writes a layout no client knows: per day, one or two jobs
// moving the day's usage (in GB) as bytes. There is no IPU column.
func (s *Server) writeUnknown(cw *csv.Writer, rows []Row) {
	cols := s.header(unknownColumns)
	_ = cw.Write(cols)
	tl := s.opts.TimeLayout
	for _, r := range rows {
		jobs := []string{"landing_zone_sftp"}
		if unit(r.Org.ID, r.Meter.ID+"jobs", r.Date) < 0.5 {
			jobs = append(jobs, "archive_to_s3")
		}
		for i, name := range jobs {
			start := r.Date.Add(time.Duration(2+8*i) * time.Hour)
			bytes := int64(r.MeterUsage * 1e9 / float64(len(jobs)))
			_ = cw.Write(record(cols, map[string]string{
				"Job Name": name, "Job Run ID": fmt.Sprint(int(r.Date.Sub(runEpoch).Hours()/24)*2 + i + 1), "Org ID": r.Org.ID,
				"Started": start.Format(tl), "Finished": start.Add(47 * time.Minute).Format(tl),
				"Files Transferred": strconv.FormatInt(1+bytes/50e6, 10), "Bytes Transferred": strconv.FormatInt(bytes, 10),
				"State": "COMPLETED",
			}))
		}
	}
}
