package fake

import (
	"fmt"
	"hash/fnv"
	"math"
	"time"
)

// Org is an organization the fake reports usage for.
type Org struct {
	ID, Name, Type string
	// Scale multiplies every meter's usage in this org.
	Scale float64
}

// Meter is a metered service.
type Meter struct {
	ID, Name, Scalar, Category string
	// Rate is IPUs per unit of usage; Daily the typical daily usage in the
	// meter's unit. Daily 0 makes a meter that reports a fixed 1 unit a day.
	Rate, Daily float64
	// JobLevel is the layout of the meter's file in a job-level export
	// (JobLevelRuns, ...); empty for a meter without job-level reports.
	JobLevel string
}

// DemoOrgs is a production org with a sub-organization and a sandbox. The
// production org's name has a comma, so every CSV the fake writes has a
// quoted field.
var DemoOrgs = []Org{
	{ID: "0cuQSDTq5sikvN7x8r1xm1", Name: "Acme, Inc. Production", Type: "Production", Scale: 1},
	{ID: "6fRxkT2bqYc9WvLm0PzQ3e", Name: "Acme Analytics", Type: "Sub-Organization", Scale: 0.35},
	{ID: "b8HnE4sJw1uKd7GyVt5Xa2", Name: "Acme Sandbox", Type: "Sandbox", Scale: 0.08},
}

// DemoMeters are real meter IDs and names from Informatica's documentation
// and public code, with plausible rates. The four meters with job-level
// files are in the list of job-level meter IDs public code uses [C 2][C 5].
var DemoMeters = []Meter{
	{ID: "a2nB20h1o0lc7k3P9xtWS8", Name: "Data Integration", Scalar: "Compute Units", Category: "Data Integration", Rate: 0.06, Daily: 1800, JobLevel: JobLevelRuns},
	{ID: "3TaYTMo6BFYeNIABfVmH0n", Name: "Data Integration Elastic", Scalar: "Compute Units", Category: "Data Integration", Rate: 0.09, Daily: 650, JobLevel: JobLevelRuns},
	{ID: "3uIRkIV5Rt9lBbAPzeR5Kj", Name: "Application Integration", Scalar: "Compute Units", Category: "Application Integration", Rate: 0.2, Daily: 240, JobLevel: JobLevelExecutions},
	{ID: "lCwc4CfL7EEhv9773egFC8", Name: "Mass Ingestion Files", Scalar: "Data Volume", Category: "Data Ingestion and Replication", Rate: 0.011, Daily: 2100, JobLevel: JobLevelUnknown},
	{ID: "24WXkCWzeSHjFlQvLPDegF", Name: "Mass Ingestion Database", Scalar: "Data Volume", Category: "Data Ingestion and Replication", Rate: 0.017, Daily: 900},
	{ID: "dMN0VeTW4cThHyPovp4GEX", Name: "Advanced Pushdown Optimization", Scalar: "Compute Units", Category: "Data Integration", Rate: 0.12, Daily: 120},
	{ID: "fqttkiGnSaHeXW255z4IcD", Name: "Integration Hub", Scalar: "Events Processed", Category: "Integration Hub", Rate: 0.0004, Daily: 55000},
	{ID: "kR7vQe1ZsXn4YbWc2TmLp9", Name: "Sub-organizations", Scalar: "Organizations", Category: "Platform", Rate: 0.2, Daily: 0},
}

// Row is one day of one org's use of one meter, as the fake serves it.
type Row struct {
	Org   Org
	Meter Meter
	Date  time.Time // 00:00 UTC
	// BillingPeriodStart and BillingPeriodEnd are 00:00 UTC of the first
	// and the last day of the period.
	BillingPeriodStart, BillingPeriodEnd time.Time
	MeterUsage, IPU                      float64
}

// Dataset generates deterministic usage: the same org, meter and day always
// give the same row, so a test can compute expected values independently of
// the exporter.
type Dataset struct {
	Orgs   []Org
	Meters []Meter
	// First and Last are the first and last day with usage, 00:00 UTC.
	First, Last time.Time
	// AnnualFrom, when set, makes billing periods annual, starting each year
	// on this date's month and day; otherwise they are calendar months.
	AnnualFrom time.Time
	// Projects is how many projects each org has; ProjectNames, when set,
	// names them instead of the demo names.
	Projects     int
	ProjectNames []string
	// Generation, when not 0, scales all usage by (1 + Generation/1000) and
	// names it in every org name, so that tests can tell apart data from
	// different refreshes.
	Generation int
}

// Rows returns the rows for the given orgs with a Date in [from, to].
func (d *Dataset) Rows(orgs []Org, from, to time.Time) []Row {
	var rows []Row
	from, to = maxTime(day(from), d.First), minTime(day(to), d.Last)
	for date := from; !date.After(to); date = date.AddDate(0, 0, 1) {
		for _, o := range orgs {
			for _, m := range d.Meters {
				if r, ok := d.row(o, m, date); ok {
					rows = append(rows, r)
				}
			}
		}
	}
	return rows
}

func (d *Dataset) row(o Org, m Meter, date time.Time) (Row, bool) {
	start, end := d.period(date)
	if d.Generation != 0 {
		o.Name = fmt.Sprintf("%s (generation %d)", o.Name, d.Generation)
	}
	r := Row{Org: o, Meter: m, Date: date, BillingPeriodStart: start, BillingPeriodEnd: end}
	if m.Daily == 0 {
		// A per-org flat charge, like the Organizations scalar.
		r.MeterUsage = 1
	} else {
		noise := unit(o.ID, m.ID, date)
		// Some meters are idle on some days: no row at all, as in a real export.
		if noise < 0.12 {
			return Row{}, false
		}
		weekly := 1 + 0.35*math.Sin(2*math.Pi*float64(date.YearDay())/7)
		r.MeterUsage = round(m.Daily*o.Scale*weekly*(0.55+noise), 4)
	}
	r.MeterUsage = round(r.MeterUsage*(1+float64(d.Generation)/1000), 4)
	r.IPU = round(r.MeterUsage*m.Rate, 6)
	return r, true
}

// period returns the first and last day of the billing period holding date.
func (d *Dataset) period(date time.Time) (time.Time, time.Time) {
	return BillingPeriod(date, d.AnnualFrom)
}

// BillingPeriod returns the first and last day of the billing period that
// holds date: the calendar month, or with annualFrom set, the year starting
// on its month and day.
func BillingPeriod(date, annualFrom time.Time) (time.Time, time.Time) {
	if annualFrom.IsZero() {
		start := time.Date(date.Year(), date.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, -1)
	}
	start := time.Date(date.Year(), annualFrom.Month(), annualFrom.Day(), 0, 0, 0, 0, time.UTC)
	if start.After(date) {
		start = start.AddDate(-1, 0, 0)
	}
	return start, start.AddDate(1, 0, -1)
}

// unit is a deterministic pseudo-random number in [0, 1).
func unit(org, meter string, date time.Time) float64 {
	h := fnv.New64a()
	h.Write([]byte(org))
	h.Write([]byte(meter))
	h.Write([]byte(date.Format("2006-01-02")))
	return float64(h.Sum64()>>11) / (1 << 53)
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// ProjectRow is one day of one org's use of one meter in one project folder,
// as a PROJECT_FOLDER export reports it.
type ProjectRow struct {
	Org             Org
	Meter           Meter
	Date            time.Time
	Project, Folder string
	IPU             float64
}

// projectNames are the demo projects; with more projects than names, the
// rest are numbered.
var projectNames = []string{"Finance ETL", "Sales Sync", "Customer 360", "Data Lake Ingest"}

// projectFolders are the folders of every project.
var projectFolders = []string{"Daily", "Monthly", "Default"}

// ProjectRows returns PROJECT_FOLDER rows for the given orgs with a Date in
// [from, to]: the IPU of each summary row spread over projects and folders.
func (d *Dataset) ProjectRows(orgs []Org, from, to time.Time) []ProjectRow {
	var out []ProjectRow
	for _, r := range d.Rows(orgs, from, to) {
		for p := 0; p < d.Projects; p++ {
			name := d.projectName(p)
			for _, folder := range projectFolders {
				share := unit(r.Org.ID+name, r.Meter.ID+folder, r.Date)
				if share < 0.3 {
					continue
				}
				out = append(out, ProjectRow{
					Org: r.Org, Meter: r.Meter, Date: r.Date, Project: name, Folder: folder,
					IPU: round(r.IPU*share/float64(d.Projects*len(projectFolders)), 6),
				})
			}
		}
		// Usage of deleted assets: no project, no folder.
		if unit(r.Org.ID, r.Meter.ID+"deleted", r.Date) < 0.1 {
			out = append(out, ProjectRow{Org: r.Org, Meter: r.Meter, Date: r.Date, IPU: round(r.IPU*0.01, 6)})
		}
	}
	return out
}

// projectName names the dataset's project p, counting from 0.
func (d *Dataset) projectName(p int) string {
	names := projectNames
	if d.ProjectNames != nil {
		names = d.ProjectNames
	}
	if p < len(names) {
		return names[p]
	}
	return fmt.Sprintf("Project %02d", p+1)
}
