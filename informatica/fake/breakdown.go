package fake

import (
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"time"
)

// Where the IPUs of a summary row go: the ASSET export [D 8] and the
// job-level export [D 9] of the fake split every summary row of the login
// org over assets and task runs, so that a test can check that a client
// adds them up to the summary figures again. The names, types,
// environments and tiers below are made up; only the column names of the
// files come from the documentation or public code (see exports.go).

// Job-level layouts of a meter (Meter.JobLevel). Only some services support
// job-level reports [D 17]; which ones, and the layout of each, are not
// documented (iics-metering-api.md §5.5).
const (
	// JobLevelRuns: one row per task run with its IPUs in "Metered Value",
	// as public code reads the Data Integration meter's file [C 1].
	JobLevelRuns = "runs"
	// JobLevelExecutions: one row per process, day and outcome with
	// execution counts and times but no IPUs, as public code reads the
	// Application Integration meters' files [C 1].
	JobLevelExecutions = "executions"
	// JobLevelUnknown: a layout no client knows, to check that clients skip
	// it.
	JobLevelUnknown = "unknown"
)

// JobLevelMeters returns the meters that have a file in a job-level export
// (Meter.JobLevel not empty), in the order of d.Meters.
func (d *Dataset) JobLevelMeters() []Meter {
	var out []Meter
	for _, m := range d.Meters {
		if m.JobLevel != "" {
			out = append(out, m)
		}
	}
	return out
}

// AssetRow is one row of an ASSET export: an asset's use of one meter on one
// day.
type AssetRow struct {
	Org   Org
	Meter Meter
	Date  time.Time // 00:00 UTC
	// AssetName and AssetType name the asset; a meter billed per org rather
	// than per asset (Meter.Daily 0, like Sub-organizations) has one row
	// named after the meter, of type "Organization" [INF: how Informatica
	// reports such meters by asset is not documented].
	AssetName, AssetType string
	// Project and Folder are empty for a deleted asset [D 19] and for the
	// per-org row.
	Project, Folder string
	// Deleted marks an asset deleted before its usage was processed.
	Deleted                            bool
	Environment, EnvironmentType, Tier string
	// IPUPerUnit is the meter's rate; Usage is IPU/IPUPerUnit, so that
	// IPUPerUnit × Usage = IPU up to float64 rounding.
	IPUPerUnit, Usage, IPU float64
}

// AssetRows returns the ASSET rows of org with a Date in [from, to].
func (d *Dataset) AssetRows(org Org, from, to time.Time) []AssetRow {
	return d.AssetsOf(d.Rows([]Org{org}, from, to))
}

// AssetsOf splits each summary row over the assets of its org and meter.
// The IPUs of a row's assets are whole micro-IPUs (the summary's precision)
// that add up exactly to the row's IPU; assets whose share is 0 have no row.
func (d *Dataset) AssetsOf(rows []Row) []AssetRow {
	var out []AssetRow
	for _, r := range rows {
		if r.Meter.Daily == 0 {
			out = append(out, AssetRow{
				Org: r.Org, Meter: r.Meter, Date: r.Date, AssetName: r.Meter.Name, AssetType: "Organization",
				IPUPerUnit: r.Meter.Rate, Usage: usageOf(r.IPU, r.Meter.Rate), IPU: r.IPU,
			})
			continue
		}
		assets := pickN(demoAssets, r.Org.ID, r.Meter.ID, 2, 6)
		weights := make([]float64, len(assets))
		for i, a := range assets {
			weights[i] = 0.1 + unit(r.Org.ID+a.name, r.Meter.ID, r.Date)
		}
		for i, ipu := range split(r.IPU, weights) {
			if ipu == 0 {
				continue
			}
			a := assets[i]
			env := pick(environments, r.Org.ID+a.name, r.Meter.ID)
			ar := AssetRow{
				Org: r.Org, Meter: r.Meter, Date: r.Date, AssetName: a.name, AssetType: a.kind,
				Environment: env.name, EnvironmentType: env.kind, Tier: env.tier,
				IPUPerUnit: r.Meter.Rate, Usage: usageOf(ipu, r.Meter.Rate), IPU: ipu,
			}
			// The last asset of every org and meter was deleted.
			if i == len(assets)-1 {
				ar.Deleted = true
			} else {
				ar.Project, ar.Folder = d.projectOf(r.Org.ID+a.name, r.Meter.ID)
			}
			out = append(out, ar)
		}
	}
	return out
}

// TaskRun is one run of a task in a job-level export of a JobLevelRuns
// meter.
type TaskRun struct {
	Org   Org
	Meter Meter
	// Date is 00:00 UTC of the day the run started: its IPUs belong to that
	// day's summary row, even when it ended the next day.
	Date                                       time.Time
	TaskID, TaskName, TaskObjectName, TaskType string
	RunID                                      string
	Project, Folder                            string
	EnvironmentID, Environment                 string
	CoresUsed                                  int
	Start, End                                 time.Time
	// AuditTime is when the run's usage was recorded.
	AuditTime time.Time
	Status    string
	IPU       float64 // "Metered Value"
}

// TaskRuns returns the runs of org's tasks that started on a day in
// [from, to], for the meters whose JobLevel is JobLevelRuns.
func (d *Dataset) TaskRuns(org Org, from, to time.Time) []TaskRun {
	return d.TaskRunsOf(d.Rows([]Org{org}, from, to))
}

// TaskRunsOf splits each summary row of a JobLevelRuns meter over runs of
// its org's tasks: 2 to 4 tasks, each run 1 to 4 times a day, the first
// task's last run of a day starting at 23:40 and ending the next day. The
// runs' IPUs are whole micro-IPUs that add up exactly to the row's IPU; runs
// whose share is 0 have no row. Rows of other meters are ignored.
func (d *Dataset) TaskRunsOf(rows []Row) []TaskRun {
	var out []TaskRun
	for _, r := range rows {
		if r.Meter.JobLevel != JobLevelRuns {
			continue
		}
		var runs []TaskRun
		var weights []float64
		for ti, t := range pickN(demoTasks, r.Org.ID, r.Meter.ID, 2, 4) {
			key := r.Org.ID + t.name
			n := 1 + int(unit(key, r.Meter.ID+"runs", r.Date)*4)
			env := pick(environments, key, r.Meter.ID)
			project, folder := d.projectOf(key, r.Meter.ID)
			for k := range n {
				var start time.Time
				var took time.Duration
				if ti == 0 && k == n-1 {
					start = r.Date.Add(23*time.Hour + 40*time.Minute)
					took = time.Duration(25+int(unit(key, r.Meter.ID+"late", r.Date)*90)) * time.Minute
				} else {
					// Spread over 00:00-20:00; at most 3 hours, so they end
					// before the late run starts.
					slot := 20 * time.Hour / time.Duration(n)
					start = r.Date.Add(time.Duration(k)*slot + time.Duration(unit(key, r.Meter.ID+fmt.Sprint("start", k), r.Date)*float64(slot/2))).Truncate(time.Second)
					took = time.Duration(2*60+int(unit(key, r.Meter.ID+fmt.Sprint("took", k), r.Date)*178*60)) * time.Second
				}
				status := "Success"
				if u := unit(key, r.Meter.ID+fmt.Sprint("status", k), r.Date); u < 0.05 {
					status = "Failed"
				} else if u < 0.12 {
					status = "Warning"
				}
				runs = append(runs, TaskRun{
					Org: r.Org, Meter: r.Meter, Date: r.Date,
					TaskID: id22(key, r.Meter.ID, "task"), TaskName: t.name, TaskObjectName: t.object, TaskType: t.kind,
					RunID:   fmt.Sprint(int(r.Date.Sub(runEpoch).Hours()/24)*4 + k + 1),
					Project: project, Folder: folder, EnvironmentID: id22(env.name, r.Org.ID, "env"), Environment: env.name,
					CoresUsed: 2 << (hash(key, r.Meter.ID, "cores") % 3),
					Start:     start, End: start.Add(took), AuditTime: start.Add(took + 3*time.Minute), Status: status,
				})
				weights = append(weights, 0.2+unit(key, r.Meter.ID+fmt.Sprint("ipu", k), r.Date))
			}
		}
		for i, ipu := range split(r.IPU, weights) {
			if ipu != 0 {
				runs[i].IPU = ipu
				out = append(out, runs[i])
			}
		}
	}
	return out
}

// Execution is one row of a job-level export of a JobLevelExecutions meter:
// a process's runs on one day with one outcome. It has no IPUs, as in the
// layout public code reads [C 1].
type Execution struct {
	Org                                         Org
	Meter                                       Meter
	Date                                        time.Time
	Asset, Environment, Status, InvokedBy, Type string
	Count                                       int
	TotalHours, AverageSeconds                  float64
}

// Executions returns the execution rows of org with a Date in [from, to].
func (d *Dataset) Executions(org Org, from, to time.Time) []Execution {
	return d.ExecutionsOf(d.Rows([]Org{org}, from, to))
}

// ExecutionsOf makes execution rows for each summary row of a
// JobLevelExecutions meter; rows of other meters are ignored.
func (d *Dataset) ExecutionsOf(rows []Row) []Execution {
	var out []Execution
	for _, r := range rows {
		if r.Meter.JobLevel != JobLevelExecutions {
			continue
		}
		for _, p := range pickN(demoProcesses, r.Org.ID, r.Meter.ID, 2, 3) {
			key := r.Org.ID + p.name
			env := pick(environments, key, r.Meter.ID)
			for _, status := range []string{"success", "failed"} {
				u := unit(key, r.Meter.ID+status, r.Date)
				count := 1 + int(u*400)
				if status == "failed" {
					if u > 0.3 {
						continue
					}
					count = 1 + int(u*10)
				}
				avg := round(0.2+u*40, 3)
				out = append(out, Execution{
					Org: r.Org, Meter: r.Meter, Date: r.Date, Asset: p.name, Environment: env.name,
					Status: status, InvokedBy: p.object, Type: p.kind, Count: count,
					TotalHours: round(float64(count)*avg/3600, 6), AverageSeconds: avg,
				})
			}
		}
	}
	return out
}

// runEpoch numbers the days in run IDs.
var runEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// named is a made-up asset, task or process: a name, a kind (asset type,
// task type, execution type) and, for tasks, the object a task runs (for
// processes, who invokes them).
type named struct{ name, kind, object string }

// demoAssets hold a name with a comma and names with non-ASCII letters, so
// that every ASSET export has quoted fields and multi-byte UTF-8.
var demoAssets = []named{
	{name: "m_load_customers", kind: "Mapping"},
	{name: "tf_daily_sales", kind: "Taskflow"},
	{name: "dtt_orders_to_snowflake", kind: "Data Transfer Task"},
	{name: "mt_inventory, EU stores", kind: "Mapping Task"},
	{name: "mt_Kundenstamm_Übernahme", kind: "Mapping Task"},
	{name: "sync_contacts_crm", kind: "Synchronization Task"},
	{name: "sc_salesforce_accounts", kind: "Service Connector"},
	{name: "MTT_hourly_events", kind: "MTT"},
	{name: "tf_月次レポート", kind: "Taskflow"},
	{name: "mi_files_landing_zone", kind: "Mass Ingestion Task"},
}

var demoTasks = []named{
	{name: "mt_load_customers", object: "m_load_customers", kind: "MTT"},
	{name: "mt_inventory, EU stores", object: "m_inventory_eu", kind: "MTT"},
	{name: "sync_contacts_crm", object: "sync_contacts_crm", kind: "DSS"},
	{name: "mt_Kundenstamm_Übernahme", object: "m_kundenstamm", kind: "MTT"},
	{name: "mt_sales_rollup", object: "m_sales_rollup", kind: "MTT"},
	{name: "dtt_orders_to_snowflake", object: "dtt_orders_to_snowflake", kind: "DTT"},
}

var demoProcesses = []named{
	{name: "Process_Order_Approval", object: "REST", kind: "Synchronous"},
	{name: "Get_Customer_360", object: "SOAP", kind: "Synchronous"},
	{name: "Sync_Leads_to_CRM", object: "Scheduler", kind: "Asynchronous"},
	{name: "Ereignis_Übertragung", object: "Event", kind: "Asynchronous"},
}

type environment struct{ name, kind, tier string }

var environments = []environment{
	{name: "Prod Agent Group", kind: "Secure Agent", tier: "Standard"},
	{name: "Serverless, us-west-2", kind: "Serverless", tier: "Medium"},
	{name: "Elastic Cluster EU", kind: "Advanced Serverless", tier: "Large"},
}

// projectOf picks a project and folder among the dataset's projects (see
// ProjectRows) for an asset or task.
func (d *Dataset) projectOf(key, meter string) (string, string) {
	n := max(d.Projects, 1)
	return d.projectName(int(hash(key, meter, "project") % uint64(n))), projectFolders[hash(key, meter, "folder")%uint64(len(projectFolders))]
}

// split divides ipu into parts proportional to weights, in whole
// micro-IPUs, the last part taking what the others leave: the parts, as
// decimals, add up exactly to ipu (which has at most 6 decimals, see row).
func split(ipu float64, weights []float64) []float64 {
	total := int64(math.Round(ipu * 1e6))
	var sum float64
	for _, w := range weights {
		sum += w
	}
	parts := make([]float64, len(weights))
	var used int64
	for i, w := range weights[:len(weights)-1] {
		p := min(int64(math.Floor(float64(total)*w/sum)), total-used)
		used += p
		parts[i] = float64(p) / 1e6
	}
	parts[len(parts)-1] = float64(total-used) / 1e6
	return parts
}

// usageOf is the usage that costs ipu at rate.
func usageOf(ipu, rate float64) float64 {
	if rate == 0 {
		return 0
	}
	return ipu / rate
}

// pickN returns between lo and hi consecutive entries of list (wrapping
// around), chosen by org and meter, so that every org and meter has its own
// stable set.
func pickN[T any](list []T, org, meter string, lo, hi int) []T {
	n := min(lo+int(hash(org, meter, "n")%uint64(hi-lo+1)), len(list))
	first := int(hash(org, meter, "first") % uint64(len(list)))
	out := make([]T, n)
	for i := range out {
		out[i] = list[(first+i)%len(list)]
	}
	return out
}

func pick[T any](list []T, key, meter string) T {
	return list[hash(key, meter, "pick")%uint64(len(list))]
}

// hash is a deterministic hash of its parts.
func hash(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// id22 is a deterministic 22-character ID like Informatica's.
func id22(parts ...string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 22)
	for i := range b {
		b[i] = alphabet[hash(append(slices.Clone(parts), fmt.Sprint(i))...)%uint64(len(alphabet))]
	}
	return string(b)
}
