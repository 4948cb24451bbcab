package offline

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/ipumon/informatica_exporter/collector"
	"github.com/ipumon/informatica_exporter/config"
	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/usage"
)

// Focus writes daily cost and usage rows in the FinOps Open Cost and
// Usage Specification (FOCUS) 1.2, for FinOps tools that read FOCUS from any
// provider. Its requirements quoted below are those of FOCUS 1.2
// (specification/columns/*.md at tag v1.2 of
// github.com/FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec).
type Focus struct {
	cmd *kingpin.CmdClause
	dayFlags
	by                     *string
	assetZips, taskZips    *[]string
	ipuPrice, currency     *string
	accountID, accountName *string
}

// NewFocus adds the focus command and its flags to app.
func NewFocus(app *kingpin.Application) *Focus {
	c := &Focus{cmd: app.Command("focus",
		"Write daily cost and usage in the FinOps FOCUS 1.2 format (CSV): one row per org, meter and day, or per asset (--by=asset) or task (--by=task), "+
			"from Informatica (the accounts of --config.file, or the simulated one of --demo) or from downloaded export ZIPs (--zip).")}
	c.dayFlags = addDayFlags(c.cmd)
	c.by = c.cmd.Flag("by", "Row granularity: meter (SUMMARY exports), asset (ASSET exports besides SUMMARY: one more export job per 30 days) "+
		"or task (job-level exports besides SUMMARY: one more export job per 180 days; only meters whose job-level files carry IPUs).").Default("meter").Enum("meter", "asset", "task")
	c.assetZips = c.cmd.Flag("asset-zip", "With --zip and --by=asset: an ASSET export ZIP; repeatable. --zip then gives the SUMMARY export for org names and billing periods.").ExistingFiles()
	c.taskZips = c.cmd.Flag("task-zip", "With --zip and --by=task: a job-level export ZIP; repeatable. --zip then gives the SUMMARY export for org names, meters and billing periods.").ExistingFiles()
	c.ipuPrice = c.cmd.Flag("ipu-price", "Price of one IPU in --currency: BilledCost = IPUs x price. Required with --zip; otherwise the default for accounts without ipu_price (with --demo: 1 USD, made up).").String()
	c.currency = c.cmd.Flag("currency", "ISO 4217 code of --ipu-price, e.g. EUR: the BillingCurrency.").String()
	c.accountID = c.cmd.Flag("billing-account-id", "With --zip: the BillingAccountId, the ID of the org the export was made from (the login org).").String()
	c.accountName = c.cmd.Flag("billing-account-name", "With --zip: the BillingAccountName; default --billing-account-id.").String()
	return c
}

// Name is the command's name, as kingpin's Parse returns it.
func (c *Focus) Name() string { return c.cmd.FullCommand() }

// focusAccount is a FOCUS billing account: an account of the configuration,
// which logs in to one org and pays for it and its linked orgs.
type focusAccount struct {
	id, name string
	price    float64
	currency string
}

// Run executes the command; its result is the process's exit code. adjust,
// when set, changes the settings after loading; now, when set, replaces
// the clock (tests run it on any day).
func (c *Focus) Run(logger log.Logger, configFile string, adjust func(*collector.Settings), now func() time.Time) int {
	for _, z := range []struct {
		flag, by, what string
		zips           []string
	}{{"--asset-zip", "asset", "ASSET", *c.assetZips}, {"--task-zip", "task", "job-level", *c.taskZips}} {
		if len(z.zips) > 0 && (len(*c.zips) == 0 || *c.by != z.by) {
			level.Error(logger).Log("msg", "Invalid focus arguments", "err", z.flag+" needs --by="+z.by+" and --zip (the SUMMARY export of the same days)")
			return 2
		}
		if len(*c.zips) > 0 && *c.by == z.by && len(z.zips) == 0 {
			level.Error(logger).Log("msg", "Invalid focus arguments", "err", "--by="+z.by+" with --zip needs "+z.flag+", the "+z.what+" export of the same days")
			return 2
		}
	}
	flagPrice, err := c.flagPricing(len(*c.zips) > 0)
	if err != nil {
		level.Error(logger).Log("msg", "Invalid focus arguments", "err", err)
		return 2
	}
	job, code := c.prepare(logger, "focus", configFile, adjust, now)
	if code != 0 {
		return code
	}
	defer job.stop()
	from, to := job.days.from, job.days.to

	var sources []focusSource
	if job.zipMode {
		s, err := c.readZIPSource(flagPrice, warnFunc(logger))
		if err != nil {
			level.Error(logger).Log("msg", "Cannot read an export ZIP given with --zip, --asset-zip or --task-zip", "err", err)
			return 1
		}
		s.tasks.warnUnresolved(logger)
		sources = append(sources, s)
	}
	for _, a := range job.settings.Accounts {
		acct, err := accountPricing(a, flagPrice)
		if err != nil {
			level.Error(logger).Log("msg", "No price for FOCUS costs", "account", a.Name, "err", err)
			return 1
		}
		s := focusSource{account: acct}
		// Job-level files the client cannot read are skipped with a warning.
		collector.LogClient(&a.Client, log.With(logger, "account", a.Name), level.Info)
		err = withAccountClient(job.ctx, logger, a, job.settings.Refresh, func(client *informatica.Client) error {
			var err error
			if s.summary, err = exportSummary(job.ctx, client, from, to, job.start); err != nil {
				return err
			}
			// The login org is known once the client has logged in.
			s.account.id = client.OrgID()
			if *c.by == "asset" {
				s.assets = []informatica.AssetRow{}
				_, err = client.ExportAssetUsage(job.ctx, from, exportEnd(to, job.start), func(r *informatica.AssetRow) error {
					s.assets = append(s.assets, *r)
					return nil
				})
			}
			if *c.by == "task" {
				s.tasks = newFocusTasks(s.summary)
				_, err = client.ExportTaskUsage(job.ctx, from, exportEnd(to, job.start), s.tasks.add)
			}
			return err
		})
		if err != nil {
			level.Error(logger).Log("msg", "Export failed", "account", a.Name, "stage", informatica.StageOf(err), "err", err)
			return 1
		}
		s.tasks.warnUnresolved(log.With(logger, "account", a.Name))
		level.Info(logger).Log("msg", "Exported", "account", a.Name, "orgs", len(s.summary.Orgs), "meters", len(s.summary.Meters),
			"asset_rows", len(s.assets), "task_days", s.tasks.len())
		sources = append(sources, s)
	}
	var stats focusStats
	_, err = writeOutput(*c.output, func(w io.Writer) (int, error) {
		var err error
		stats, err = writeFOCUS(w, sources, *c.by, from, to)
		return stats.rows, err
	})
	if err != nil {
		level.Error(logger).Log("msg", "Cannot write the FOCUS export", "output", *c.output, "err", err)
		return 1
	}
	if stats.guessedPeriods > 0 {
		level.Warn(logger).Log("msg", "Rows without a billing period in the SUMMARY export: their BillingPeriodStart/End are the UTC calendar month of the day (inferred)",
			"rows", stats.guessedPeriods)
	}
	if stats.rows == 0 {
		warnEmpty(logger, "FOCUS export written with no rows: nothing in the range; check --from and --to", job, *c.zips)
		return 0
	}
	level.Info(logger).Log("msg", "FOCUS export written", "output", *c.output, "rows", stats.rows,
		"from", from.Format(time.DateOnly), "to", to.Format(time.DateOnly))
	return 0
}

// The made-up price of an IPU in demo mode, so that focus --demo needs no
// price flags; --ipu-price and --currency set another.
const (
	demoIPUPrice = 1.0
	demoCurrency = "USD"
)

// flagPricing reads --ipu-price and --currency, and in zip mode the billing
// account flags. Without a price it returns nil, except in demo mode: each
// account must then set its own.
func (c *Focus) flagPricing(zipMode bool) (*focusAccount, error) {
	if zipMode && *c.accountID == "" {
		return nil, errors.New("--billing-account-id is required with --zip: FOCUS's BillingAccountId cannot be null; give the ID of the org the export was made from")
	}
	if *c.ipuPrice == "" && *c.currency == "" {
		if zipMode {
			return nil, errors.New("--ipu-price and --currency are required with --zip: FOCUS's BilledCost and BillingCurrency cannot be null")
		}
		if *c.demo {
			return &focusAccount{price: demoIPUPrice, currency: demoCurrency}, nil
		}
		return nil, nil
	}
	price, err := parsePrice("--ipu-price", *c.ipuPrice)
	if err != nil {
		return nil, err
	}
	if err := checkCurrency("--currency", *c.currency); err != nil {
		return nil, err
	}
	a := &focusAccount{id: *c.accountID, name: *c.accountName, price: price, currency: *c.currency}
	if a.name == "" {
		a.name = a.id
	}
	return a, nil
}

// parsePrice reads a price flag; it must pass config.CheckPrice, as ipu_price
// must.
func parsePrice(where, s string) (float64, error) {
	p, err := strconv.ParseFloat(s, 64)
	if s == "" || err != nil {
		return 0, fmt.Errorf("%s: %q is not a price: give a decimal number > 0 such as 1.25", where, s)
	}
	return p, config.CheckPrice(where, p)
}

// checkCurrency accepts what the configuration's currency key accepts: an
// active ISO 4217 code, which FOCUS requires of BillingCurrency. IPU is not
// one: FOCUS bills in a national currency, and IPUs are this export's
// pricing (virtual) currency.
func checkCurrency(where, s string) error {
	if !config.IsCurrency(s) {
		return fmt.Errorf("%s: %q is not an active ISO 4217 currency code such as EUR or USD", where, s)
	}
	return nil
}

// accountPricing is the billing account of a: its name, and the price of
// an IPU, from --ipu-price and --currency (def) when the account sets none.
//
// FOCUS has no null cost: BilledCost, EffectiveCost, ListCost and
// ContractedCost MUST NOT be null, BillingCurrency MUST NOT be null and MUST
// be the invoice's national currency, and NullHandling forbids 0 as a
// placeholder. Without a price the costs are unknown, not 0, so the command
// refuses rather than write a dataset that claims usage was free.
func accountPricing(a collector.AccountSettings, def *focusAccount) (focusAccount, error) {
	acct := focusAccount{name: a.Name}
	price, currency, ok := configuredPrice(a)
	switch {
	case ok:
		acct.price, acct.currency = price, currency
	case def != nil:
		acct.price, acct.currency = def.price, def.currency
	default:
		return acct, errors.New("the account sets no ipu_price and currency, and --ipu-price and --currency are not given: " +
			"FOCUS costs and BillingCurrency cannot be null, and 0 would claim the usage was free")
	}
	return acct, nil
}

// configuredPrice is the account's ipu_price and currency keys; the
// configuration sets both or neither, so a currency means a price, even 0.
func configuredPrice(a collector.AccountSettings) (float64, string, bool) {
	return a.IPUPrice, a.Currency, a.Currency != ""
}

// readZIPSource reads --zip (and --asset-zip or --task-zip) as one billing
// account's data; warn gets the job-level files skipped for their layout.
func (c *Focus) readZIPSource(acct *focusAccount, warn func(string, ...any)) (focusSource, error) {
	s := focusSource{account: *acct}
	var err error
	if s.summary, err = readZIPs(*c.zips); err != nil {
		return s, err
	}
	if *c.by == "task" {
		s.tasks = newFocusTasks(s.summary)
		for _, p := range *c.taskZips {
			err := readZIPFile(p, func(f *os.File, size int64) error {
				_, err := informatica.ReadTaskZIP(f, size, informatica.DefaultLimits, s.tasks.add, warn)
				return err
			})
			if err != nil {
				return s, err
			}
		}
		return s, nil
	}
	if *c.by != "asset" {
		return s, nil
	}
	s.assets = []informatica.AssetRow{}
	for _, p := range *c.assetZips {
		err := readZIPFile(p, func(f *os.File, size int64) error {
			_, err := informatica.ReadAssetZIP(f, size, informatica.DefaultLimits, func(r *informatica.AssetRow) error {
				s.assets = append(s.assets, *r)
				return nil
			})
			return err
		})
		if err != nil {
			return s, err
		}
	}
	return s, nil
}

// focusSource is one billing account's exports: the SUMMARY rows, and with
// --by=asset the ASSET rows, with --by=task the job-level rows by task and
// day (nil otherwise).
type focusSource struct {
	account focusAccount
	summary *usage.Table
	assets  []informatica.AssetRow
	tasks   *focusTasks
}

// warnFunc logs the client's warnings (Config.OnWarning).
func warnFunc(logger log.Logger) func(string, ...any) {
	return func(msg string, keyvals ...any) {
		level.Warn(logger).Log(append([]any{"msg", msg}, keyvals...)...)
	}
}

type focusStats struct {
	rows           int
	guessedPeriods int
}

// The values that are the same on every row.
const (
	// ProviderName, PublisherName, InvoiceIssuerName: Informatica makes,
	// publishes and (for direct customers) invoices IDMC. A customer who
	// buys IPUs through a reseller or a cloud marketplace gets a different
	// invoice issuer: [INF] not configurable yet.
	focusProvider = "Informatica"
	// ServiceCategory MUST be one of FOCUS's allowed values. Informatica's
	// meters (Data Integration, Application Integration, Mass Ingestion,
	// Integration Hub, ...) are parts of an integration platform (iPaaS),
	// whose services "allow applications to interact with one another" as
	// FOCUS defines Integration. A finer mapping (e.g. Analytics / Data
	// Processing for ETL meters) would rest on meter names and categories,
	// which Informatica does not document as stable values.
	focusServiceCategory    = "Integration"
	focusServiceSubcategory = "Other (Integration)"
	// PricingCurrency: IPUs are Informatica's virtual currency; FOCUS 1.2
	// allows a virtual currency there (CurrencyFormat), not in
	// BillingCurrency. PricingQuantity counts IPUs, so PricingUnit is IPU
	// too, and one PricingUnit costs 1 in the pricing currency.
	focusPricingCurrency = "IPU"
	focusPricingUnit     = "IPU"
	// ConsumedUnit when the SUMMARY row names no scalar: ConsumedUnit MUST
	// NOT be null when ConsumedQuantity is not; Unit is FOCUS's generic
	// count-based unit.
	focusDefaultUnit = "Unit"
	// SubAccountType when the row names no org type; it MUST NOT be null
	// when SubAccountId is not.
	focusDefaultOrgType = "Organization"
)

// focusColumns are the columns written, in this order. Every column FOCUS
// 1.2 marks Mandatory is here; of the Recommended ones ChargeFrequency and
// ServiceSubcategory (AvailabilityZone and InvoiceId: Informatica's exports
// hold neither); of the Conditional ones those whose condition Informatica
// meets:
//   - SubAccountId/Name/Type: the orgs of a hierarchy are sub accounts,
//     of several types (production, sub-org, sandbox).
//   - ConsumedQuantity/Unit: Informatica measures usage (MeterUsage, Scalar).
//   - PricingCurrency and its prices and cost: prices are in a virtual
//     currency, the IPU.
//   - ListUnitPrice, ContractedUnitPrice: the IPU price is contracted; no
//     other list price is known, so list = contracted.
//   - SkuId, SkuPriceId, SkuMeter, SkuPriceDetails: a meter is what is
//     priced, at its IPU rate.
//   - RegionId/Name, ResourceId/Name/Type, Tags: present so that tools
//     find them, null where the exports say nothing (regions, tags), and
//     resources only at asset and task granularity.
//
// Left out: BillingAccountType (one kind of billing account),
// CapacityReservation* and CommitmentDiscount* (no such constructs in the
// exports), PricingCategory (one pricing model).
var focusColumns = []string{
	// Mandatory.
	"BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
	"BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass",
	"ChargeDescription", "ChargePeriodEnd", "ChargePeriodStart", "ContractedCost",
	"EffectiveCost", "InvoiceIssuerName", "ListCost", "PricingQuantity",
	"PricingUnit", "ProviderName", "PublisherName", "ServiceCategory", "ServiceName",
	// Recommended.
	"ChargeFrequency", "ServiceSubcategory",
	// Conditional.
	"ConsumedQuantity", "ConsumedUnit", "ContractedUnitPrice", "ListUnitPrice",
	"PricingCurrency", "PricingCurrencyContractedUnitPrice", "PricingCurrencyEffectiveCost",
	"PricingCurrencyListUnitPrice", "RegionId", "RegionName", "ResourceId",
	"ResourceName", "ResourceType", "SkuId", "SkuMeter", "SkuPriceDetails", "SkuPriceId",
	"SubAccountId", "SubAccountName", "SubAccountType", "Tags",
	// Custom (FOCUS: x_ prefix).
	"x_IPUPerUnit",
}

// focusAssetColumns are the custom columns of --by=asset, from the ASSET
// export's documented columns.
var focusAssetColumns = []string{"x_AssetName", "x_AssetType", "x_Project", "x_Folder", "x_Environment"}

// focusTaskColumns are the custom columns of --by=task, from the job-level
// export's columns (undocumented: iics-metering-api.md §5.5).
var focusTaskColumns = []string{"x_TaskId", "x_TaskName", "x_TaskType", "x_TaskRuns", "x_Project", "x_Folder", "x_Environment"}

// focusTasks sums job-level rows (one per run, or per task and day) by org,
// meter, task and day: one FOCUS row each, as FOCUS charge periods are days
// here. Rows of files that name no meter are matched by file name to the
// meters of the SUMMARY export (informatica.MeterResolver).
type focusTasks struct {
	meters *informatica.MeterResolver
	days   map[taskDay]*focusTask
}

type taskDay struct {
	org, meter, task string
	day              int32 // days since 1970-01-01 UTC
}

// focusTask is a task's runs on a day. Its names are those of the first
// row read: a task renamed during a day stays one row.
type focusTask struct {
	taskDay
	name, typ, project, folder, env string
	runs                            int
	ipu                             float64
}

func newFocusTasks(summary *usage.Table) *focusTasks {
	t := &focusTasks{meters: informatica.NewMeterResolver(), days: map[taskDay]*focusTask{}}
	for _, m := range summary.Meters {
		t.meters.Add(m.ID, m.Name)
	}
	return t
}

// add is the callback of ExportTaskUsage and ReadTaskZIP; r is reused, so
// the strings kept are cloned (they would pin the whole record otherwise).
func (t *focusTasks) add(r *informatica.TaskRow) error {
	meter := r.MeterID
	if meter == "" {
		var ok bool
		if meter, ok = t.meters.Resolve(r.MeterHint); !ok {
			return nil // warned about once per hint: warnUnresolved
		}
	}
	k := taskDay{r.OrgID, meter, r.TaskID, int32(r.Date.Unix() / 86400)}
	d := t.days[k]
	if d == nil {
		d = &focusTask{
			taskDay: taskDay{strings.Clone(k.org), strings.Clone(k.meter), strings.Clone(k.task), k.day},
			name:    strings.Clone(r.TaskName), typ: strings.Clone(r.TaskType), project: strings.Clone(r.Project),
			folder: strings.Clone(r.Folder), env: strings.Clone(r.Environment),
		}
		t.days[k] = d
	}
	d.runs += max(r.Runs, 0)
	d.ipu += r.IPU
	return nil
}

// sorted returns the task days by day, org, meter and task, so that the
// output does not depend on map order.
func (t *focusTasks) sorted() []*focusTask {
	if t == nil {
		return nil
	}
	out := make([]*focusTask, 0, len(t.days))
	for _, d := range t.days {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *focusTask) int {
		return cmp.Or(cmp.Compare(a.day, b.day), cmp.Compare(a.org, b.org), cmp.Compare(a.meter, b.meter), cmp.Compare(a.task, b.task))
	})
	return out
}

func (t *focusTasks) len() int {
	if t == nil {
		return 0
	}
	return len(t.days)
}

// warnUnresolved logs each file name that matched no meter, once.
func (t *focusTasks) warnUnresolved(logger log.Logger) {
	if t == nil {
		return
	}
	for _, hint := range t.meters.Unresolved() {
		level.Warn(logger).Log("msg", "Skipping job-level rows of a file that names no meter of the SUMMARY export", "file", hint)
	}
}

// focusLine is one FOCUS row before formatting.
type focusLine struct {
	account                *focusAccount
	org                    usage.OrgInfo
	meter                  usage.MeterInfo
	day                    time.Time
	periodStart, periodEnd time.Time // FOCUS bounds: end exclusive
	usage, ipu             float64
	rate                   float64
	hasRate                bool
	usageInIPU             bool // usage counts IPUs: ConsumedUnit IPU
	asset                  *informatica.AssetRow
	task                   *focusTask
}

// writeFOCUS writes the rows of the sources for the days from..to as a FOCUS
// CSV. An org that several sources hold (two accounts reaching the same
// org) is written from the first, as the backfill does, so that no cost is
// counted twice.
func writeFOCUS(w io.Writer, sources []focusSource, by string, from, to time.Time) (focusStats, error) {
	var stats focusStats
	cw := csv.NewWriter(w)
	cw.UseCRLF = true // RFC 4180
	header := focusColumns
	switch by {
	case "asset":
		header = append(append([]string(nil), focusColumns...), focusAssetColumns...)
	case "task":
		header = append(append([]string(nil), focusColumns...), focusTaskColumns...)
	}
	if err := cw.Write(header); err != nil {
		return stats, err
	}
	record := make([]string, len(header))
	write := func(l *focusLine) error {
		l.settleUsage()
		l.fill(record)
		stats.rows++
		return cw.Write(record)
	}
	owner := map[string]int{}
	owns := func(org string, i int) bool {
		o, seen := owner[org]
		if !seen {
			owner[org] = i
		}
		return !seen || o == i
	}
	for i := range sources {
		s := &sources[i]
		t := s.summary
		periods := map[orgDay][2]time.Time{}
		rates := map[orgMeterDay]float64{}
		orgs := map[string]usage.OrgInfo{}
		meters, meterNames := map[string]usage.MeterInfo{}, map[string]usage.MeterInfo{}
		for _, o := range t.Orgs {
			orgs[o.ID] = o
		}
		for _, m := range t.Meters {
			meters[m.ID] = m
			// ASSET rows may name their meter only by name.
			meterNames[m.Name] = m
		}
		for j := range t.Days {
			e := t.Entry(j)
			l := focusLine{
				account: &s.account, org: t.Orgs[e.Org], meter: t.Meters[e.Meter],
				day: time.Unix(int64(e.Day)*86400, 0).UTC(), usage: e.Usage, ipu: e.IPU, rate: e.Rate, hasRate: e.HasRate,
			}
			if e.PeriodStart != 0 || e.PeriodEnd != 0 {
				l.periodStart = time.Unix(e.PeriodStart, 0).UTC()
				// Table periods end at 00:00 of their last day; FOCUS's
				// BillingPeriodEnd is the exclusive end.
				l.periodEnd = time.Unix(e.PeriodEnd, 0).UTC().AddDate(0, 0, 1)
				periods[orgDay{l.org.ID, e.Day}] = [2]time.Time{l.periodStart, l.periodEnd}
			}
			if e.HasRate && e.Rate > 0 {
				rates[orgMeterDay{l.org.ID, l.meter.ID, e.Day}] = e.Rate
			}
			if by != "meter" || l.day.Before(from) || l.day.After(to) || !owns(l.org.ID, i) {
				continue
			}
			if l.periodStart.IsZero() {
				stats.guessedPeriods++
				l.periodStart, l.periodEnd = calendarMonth(l.day)
			}
			if err := write(&l); err != nil {
				return stats, err
			}
		}
		// period sets the billing period of an asset or task row, that of
		// the org's SUMMARY rows of the day.
		period := func(l *focusLine) {
			if p, ok := periods[orgDay{l.org.ID, int32(l.day.Unix() / 86400)}]; ok {
				l.periodStart, l.periodEnd = p[0], p[1]
			} else {
				stats.guessedPeriods++
				l.periodStart, l.periodEnd = calendarMonth(l.day)
			}
		}
		for k := range s.assets {
			a := &s.assets[k]
			if a.Date.Before(from) || a.Date.After(to) || !owns(a.OrgID, i) {
				continue
			}
			org, ok := orgs[a.OrgID]
			if !ok {
				// ASSET rows name no org; a SUMMARY export without the org
				// leaves its ID as the only name.
				org = usage.OrgInfo{ID: a.OrgID, Name: a.OrgID, Type: a.OrgType}
			}
			meter, ok := meters[a.MeterID]
			if !ok {
				meter, ok = meterNames[a.MeterName]
			}
			if !ok {
				meter = usage.MeterInfo{ID: a.MeterID, Name: a.MeterName}
				if meter.ID == "" {
					meter.ID = a.MeterName // SkuId MUST NOT be null on usage
				}
			}
			l := focusLine{
				account: &s.account, org: org, meter: meter, day: a.Date, usage: a.Usage, ipu: a.IPU,
				rate: a.IPUPerUnit, hasRate: a.IPUPerUnit != 0, asset: a,
			}
			period(&l)
			if err := write(&l); err != nil {
				return stats, err
			}
		}
		for _, d := range s.tasks.sorted() {
			day := time.Unix(int64(d.day)*86400, 0).UTC()
			orgID := d.org
			if orgID == "" {
				// A job-level export covers the requesting org only [D 9].
				orgID = s.account.id
			}
			if day.Before(from) || day.After(to) || !owns(orgID, i) {
				continue
			}
			org, ok := orgs[orgID]
			if !ok {
				org = usage.OrgInfo{ID: orgID, Name: orgID}
			}
			meter, ok := meters[d.meter]
			if !ok {
				meter = usage.MeterInfo{ID: d.meter, Name: d.meter}
			}
			l := focusLine{account: &s.account, org: org, meter: meter, day: day, ipu: d.ipu, usage: d.ipu, task: d}
			// Job-level files give IPUs, not the meter's units: the usage
			// is the IPUs over the day's IPURate of the SUMMARY row [INF:
			// a meter's rate is taken to apply to each run alike]; without
			// a rate it is counted in IPUs (ConsumedUnit IPU).
			if rate, ok := rates[orgMeterDay{orgID, d.meter, d.day}]; ok {
				l.usage, l.rate, l.hasRate = d.ipu/rate, rate, true
			} else {
				l.usageInIPU = true
			}
			period(&l)
			if err := write(&l); err != nil {
				return stats, err
			}
		}
	}
	cw.Flush()
	return stats, cw.Error()
}

type orgDay struct {
	org string
	day int32
}

type orgMeterDay struct {
	org, meter string
	day        int32
}

// calendarMonth is the UTC calendar month holding day: the billing period
// guessed [INF] for rows whose export gives none. Informatica defines
// billing periods in UTC [D 18b]; most are calendar months.
func calendarMonth(day time.Time) (time.Time, time.Time) {
	start := time.Date(day.Year(), day.Month(), 1, 0, 0, 0, 0, time.UTC)
	return start, start.AddDate(0, 1, 0)
}

// focusTime is FOCUS's DateTimeFormat: UTC, YYYY-MM-DDTHH:mm:ssZ.
const focusTime = "2006-01-02T15:04:05Z"

// focusNumber is FOCUS's NumericFormat: a decimal without exponent, with as
// many digits as the float64 holds.
func focusNumber(v float64) string {
	if v == 0 {
		v = 0 // no "-0"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// settleUsage replaces a usage of 0 beside IPUs: the readers give 0 for an
// empty (null) MeterUsage, and a 0 written beside IPUs billed would be a
// placeholder, which FOCUS 1.2 forbids (NullHandling). The usage is then
// derived from the IPUs over the row's IPURate, in the meter's unit, or
// without a rate counted in IPUs (ConsumedUnit IPU), as task rows are.
func (l *focusLine) settleUsage() {
	if l.usage != 0 || l.ipu == 0 || l.usageInIPU {
		return
	}
	if l.hasRate && l.rate > 0 {
		l.usage = l.ipu / l.rate
		return
	}
	l.usage, l.usageInIPU = l.ipu, true
}

// fill writes l into record, in the order of focusColumns (and
// focusAssetColumns). Empty cells are FOCUS nulls: CSV has no other null.
func (l *focusLine) fill(record []string) {
	cost := focusNumber(l.ipu * l.account.price)
	price := focusNumber(l.account.price)
	ipus := focusNumber(l.ipu)
	unit := l.meter.Scalar
	if unit == "" {
		unit = focusDefaultUnit
	}
	if l.usageInIPU {
		unit = focusPricingUnit
	}
	orgType := l.org.Type
	if orgType == "" {
		orgType = focusDefaultOrgType
	}
	orgName := l.org.Name
	if orgName == "" {
		orgName = l.org.ID
	}
	meterName := l.meter.Name
	if meterName == "" {
		meterName = l.meter.ID // ServiceName MUST NOT be null
	}
	desc := meterName + " usage"
	var resourceID, resourceName, resourceType string
	if a := l.asset; a != nil {
		desc = meterName + " usage by " + strings.TrimSpace(a.AssetType+" "+a.AssetName)
		// An asset is what the IPUs were spent on, so the charge relates to
		// it, and ResourceId MUST then not be null. Informatica gives assets
		// no ID in the export: their path is the identifier, unique within
		// the provider as far as an asset name is unique per type within a
		// folder [INF]. Deleted assets have an empty project and folder.
		resourceID = strings.Join([]string{a.OrgID, a.Project, a.Folder, a.AssetType, a.AssetName}, "/")
		resourceName, resourceType = a.AssetName, a.AssetType
		if resourceType == "" {
			resourceType = "Asset" // MUST NOT be null when ResourceId is not
		}
	}
	if d := l.task; d != nil {
		resourceName, resourceType = d.name, d.typ
		if resourceName == "" {
			resourceName = d.task
		}
		if resourceType == "" {
			resourceType = "Task" // MUST NOT be null when ResourceId is not
		}
		desc = meterName + " usage by " + strings.TrimSpace(d.typ+" "+resourceName)
		// Task IDs are Informatica's (the Application Integration layout
		// names the process instead); the org makes them unique across
		// the orgs of the provider.
		resourceID = l.org.ID + "/" + d.task
	}
	rate := ""
	if l.hasRate {
		rate = focusNumber(l.rate)
	}
	values := []string{
		cost,               // BilledCost
		l.account.id,       // BillingAccountId
		l.account.name,     // BillingAccountName
		l.account.currency, // BillingCurrency
		l.periodEnd.Format(focusTime),
		l.periodStart.Format(focusTime),
		"Usage", // ChargeCategory
		"",      // ChargeClass: null, no row corrects an earlier invoice
		desc,
		l.day.AddDate(0, 0, 1).Format(focusTime), // ChargePeriodEnd, exclusive
		l.day.Format(focusTime),                  // ChargePeriodStart
		cost,                                     // ContractedCost
		cost,                                     // EffectiveCost
		focusProvider,                            // InvoiceIssuerName
		cost,                                     // ListCost
		ipus,                                     // PricingQuantity
		focusPricingUnit,
		focusProvider, // ProviderName
		focusProvider, // PublisherName
		focusServiceCategory,
		meterName, // ServiceName
		"Usage-Based",
		focusServiceSubcategory,
		focusNumber(l.usage), // ConsumedQuantity
		unit,                 // ConsumedUnit
		price,                // ContractedUnitPrice
		price,                // ListUnitPrice
		focusPricingCurrency,
		"1",  // PricingCurrencyContractedUnitPrice: an IPU costs one IPU
		ipus, // PricingCurrencyEffectiveCost
		"1",  // PricingCurrencyListUnitPrice
		"",   // RegionId: not in the exports
		"",   // RegionName
		resourceID,
		resourceName,
		resourceType,
		l.meter.ID, // SkuId
		meterName,  // SkuMeter
		"",         // SkuPriceDetails: null, allowed; the rate is x_IPUPerUnit
		l.meter.ID, // SkuPriceId: one price (IPU rate) per meter
		l.org.ID,   // SubAccountId
		orgName,    // SubAccountName
		orgType,    // SubAccountType
		"",         // Tags: the exports carry none
		rate,       // x_IPUPerUnit
	}
	n := copy(record, values)
	if a := l.asset; a != nil {
		copy(record[n:], []string{a.AssetName, a.AssetType, a.Project, a.Folder, a.Environment})
	}
	if d := l.task; d != nil {
		copy(record[n:], []string{d.task, d.name, d.typ, strconv.Itoa(d.runs), d.project, d.folder, d.env})
	}
}
