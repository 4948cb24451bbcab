package offline

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
	"github.com/ipumon/informatica_exporter/usage"
)

// focusSpec is what FOCUS 1.2 says of each column this test checks, typed
// in from the specification (specification/columns/*.md at tag v1.2), not
// from focus.go: every Mandatory column, and the Conditional and
// Recommended ones the command writes.
type focusColumnSpec struct {
	mandatory bool
	nullable  bool
	kind      string // "string", "decimal", "datetime", "currency", "json"
	allowed   []string
}

var focusSpec = map[string]focusColumnSpec{
	// Mandatory in FOCUS 1.2.
	"BilledCost":         {true, false, "decimal", nil},
	"BillingAccountId":   {true, false, "string", nil},
	"BillingAccountName": {true, true, "string", nil},
	"BillingCurrency":    {true, false, "currency", nil},
	"BillingPeriodEnd":   {true, false, "datetime", nil},
	"BillingPeriodStart": {true, false, "datetime", nil},
	"ChargeCategory":     {true, false, "string", []string{"Usage", "Purchase", "Tax", "Credit", "Adjustment"}},
	"ChargeClass":        {true, true, "string", []string{"Correction"}},
	"ChargeDescription":  {true, true, "string", nil},
	"ChargePeriodEnd":    {true, false, "datetime", nil},
	"ChargePeriodStart":  {true, false, "datetime", nil},
	"ContractedCost":     {true, false, "decimal", nil},
	"EffectiveCost":      {true, false, "decimal", nil},
	"InvoiceIssuerName":  {true, false, "string", nil},
	"ListCost":           {true, false, "decimal", nil},
	"PricingQuantity":    {true, true, "decimal", nil},
	"PricingUnit":        {true, true, "string", nil},
	"ProviderName":       {true, false, "string", nil},
	"PublisherName":      {true, false, "string", nil},
	"ServiceCategory": {true, false, "string", []string{
		"AI and Machine Learning", "Analytics", "Business Applications", "Compute",
		"Databases", "Developer Tools", "Multicloud", "Identity", "Integration", "Internet of Things", "Management and Governance",
		"Media", "Migration", "Mobile", "Networking", "Security", "Storage", "Web", "Other",
	}},
	"ServiceName": {true, false, "string", nil},
	// Recommended and Conditional ones the command writes; "not null" where
	// the spec says so for Usage rows that are no correction.
	"ChargeFrequency":                    {false, false, "string", []string{"One-Time", "Recurring", "Usage-Based"}},
	"ServiceSubcategory":                 {false, false, "string", nil},
	"ConsumedQuantity":                   {false, false, "decimal", nil},
	"ConsumedUnit":                       {false, false, "string", nil},
	"ContractedUnitPrice":                {false, false, "decimal", nil},
	"ListUnitPrice":                      {false, false, "decimal", nil},
	"PricingCurrency":                    {false, false, "string", nil},
	"PricingCurrencyContractedUnitPrice": {false, false, "decimal", nil},
	"PricingCurrencyEffectiveCost":       {false, false, "decimal", nil},
	"PricingCurrencyListUnitPrice":       {false, false, "decimal", nil},
	"SkuId":                              {false, false, "string", nil},
	"SkuPriceId":                         {false, false, "string", nil},
	"SkuMeter":                           {false, true, "string", nil},
	"SkuPriceDetails":                    {false, true, "json", nil},
	"SubAccountId":                       {false, false, "string", nil},
	"SubAccountName":                     {false, true, "string", nil},
	"SubAccountType":                     {false, false, "string", nil},
	"RegionId":                           {false, true, "string", nil},
	"RegionName":                         {false, true, "string", nil},
	"ResourceId":                         {false, true, "string", nil},
	"ResourceName":                       {false, true, "string", nil},
	"ResourceType":                       {false, true, "string", nil},
	"Tags":                               {false, true, "json", nil},
}

var (
	focusDateTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$`)
	// A decimal without exponent, sign only when negative.
	focusDecimal  = regexp.MustCompile(`^-?\d+(\.\d+)?$`)
	focusCurrency = regexp.MustCompile(`^[A-Z]{3}$`)
)

// runFocus runs the focus command at now with args, writing into dir, and
// returns the file it wrote and the log; a non-zero exit fails the test.
func runFocus(t *testing.T, dir string, now time.Time, args ...string) (string, *syncBuffer) {
	t.Helper()
	output := filepath.Join(dir, "focus.csv")
	logs := &syncBuffer{}
	args = append([]string{"focus", "--output=" + output}, args...)
	if code := run(args, logs, hooks{now: frozen(now)}); code != 0 {
		t.Fatalf("%q exited %d:\n%s", args, code, logs)
	}
	return output, logs
}

// readFOCUS reads a FOCUS CSV back with encoding/csv and checks every row
// against focusSpec; it returns the rows as maps by column.
func readFOCUS(t *testing.T, path string) (header []string, rows []map[string]string) {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(body) {
		t.Error("the FOCUS CSV is not valid UTF-8")
	}
	records, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("the FOCUS CSV does not parse: %v", err)
	}
	if len(records) < 2 {
		t.Fatalf("the FOCUS CSV has %d records, want a header and rows", len(records))
	}
	header = records[0]
	index := map[string]int{}
	for i, h := range header {
		if _, dup := index[h]; dup {
			t.Errorf("column %s appears twice", h)
		}
		index[h] = i
		if _, known := focusSpec[h]; !known && !strings.HasPrefix(h, "x_") {
			t.Errorf("column %s is neither a FOCUS column nor a custom x_ column", h)
		}
	}
	for name, spec := range focusSpec {
		if _, ok := index[name]; spec.mandatory && !ok {
			t.Errorf("mandatory FOCUS 1.2 column %s is missing", name)
		}
	}
	for n, rec := range records[1:] {
		row := map[string]string{}
		for i, v := range rec {
			row[header[i]] = v
		}
		rows = append(rows, row)
		for name, spec := range focusSpec {
			v, ok := row[name]
			if !ok {
				continue
			}
			where := fmt.Sprintf("row %d column %s = %q", n+2, name, v)
			if v == "" {
				if !spec.nullable {
					t.Errorf("%s: null in a column that must not be null", where)
				}
				continue
			}
			if strings.TrimSpace(v) == "" {
				t.Errorf("%s: only spaces", where)
			}
			switch spec.kind {
			case "decimal":
				if !focusDecimal.MatchString(v) {
					t.Errorf("%s: not a FOCUS decimal", where)
				}
			case "datetime":
				if _, err := time.Parse(time.RFC3339, v); err != nil || !focusDateTime.MatchString(v) {
					t.Errorf("%s: not YYYY-MM-DDTHH:mm:ssZ", where)
				}
			case "currency":
				if !focusCurrency.MatchString(v) {
					t.Errorf("%s: not an ISO 4217 code", where)
				}
			}
			if spec.allowed != nil && !contains(spec.allowed, v) {
				t.Errorf("%s: not one of %v", where, spec.allowed)
			}
		}
		if row["ChargeCategory"] != "Usage" || row["ChargeFrequency"] != "Usage-Based" || row["ChargeClass"] != "" {
			t.Errorf("row %d: charge %q/%q/%q, want Usage/Usage-Based/null", n+2, row["ChargeCategory"], row["ChargeFrequency"], row["ChargeClass"])
		}
		start, _ := time.Parse(time.RFC3339, row["ChargePeriodStart"])
		end, _ := time.Parse(time.RFC3339, row["ChargePeriodEnd"])
		if !end.Equal(start.AddDate(0, 0, 1)) || !start.Equal(day(start)) {
			t.Errorf("row %d: charge period %s - %s, want a UTC day", n+2, row["ChargePeriodStart"], row["ChargePeriodEnd"])
		}
		bpStart, _ := time.Parse(time.RFC3339, row["BillingPeriodStart"])
		bpEnd, _ := time.Parse(time.RFC3339, row["BillingPeriodEnd"])
		if start.Before(bpStart) || !end.After(bpStart) || end.After(bpEnd) {
			t.Errorf("row %d: charge period %s not within the billing period %s - %s (end exclusive)", n+2, row["ChargePeriodStart"], row["BillingPeriodStart"], row["BillingPeriodEnd"])
		}
	}
	return header, rows
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

func number(t *testing.T, row map[string]string, column string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(row[column], 64)
	if err != nil {
		t.Fatalf("%s = %q: %v", column, row[column], err)
	}
	return v
}

// checkFOCUSSums: BilledCost is PricingQuantity x price on every row, and
// the PricingQuantity of an org and meter over the days adds up to the IPUs
// the fake served for them.
func checkFOCUSSums(t *testing.T, rows []map[string]string, served []fake.Row, price float64) {
	t.Helper()
	want, got := map[[2]string]float64{}, map[[2]string]float64{}
	for _, r := range served {
		want[[2]string{r.Org.ID, r.Meter.ID}] += r.IPU
	}
	for _, r := range rows {
		q := number(t, r, "PricingQuantity")
		for _, c := range []string{"BilledCost", "EffectiveCost", "ListCost", "ContractedCost"} {
			if cost := number(t, r, c); cost != q*price {
				t.Errorf("%s = %v, want PricingQuantity %v x price %v", c, cost, q, price)
			}
		}
		if number(t, r, "PricingCurrencyEffectiveCost") != q {
			t.Errorf("PricingCurrencyEffectiveCost %s, want the IPUs %s", r["PricingCurrencyEffectiveCost"], r["PricingQuantity"])
		}
		got[[2]string{r["SubAccountId"], r["SkuId"]}] += q
	}
	if len(got) != len(want) {
		t.Errorf("%d org/meter pairs in the FOCUS rows, %d served", len(got), len(want))
	}
	for k, w := range want {
		if math.Abs(got[k]-w) > 1e-9*w {
			t.Errorf("org %s meter %s: PricingQuantity sums to %v, the fake served %v IPUs", k[0], k[1], got[k], w)
		}
	}
}

// TestFocusFromInformatica runs the focus command against the fake on the
// 1st of a month at 00:00:30: the rows end with the last day of the
// previous month, whose billing period is that month, and today's partial
// day is never written.
func TestFocusFromInformatica(t *testing.T) {
	t.Parallel()
	now := date(2027, 3, 1, 0, 0, 30)
	f := startFake(t, fake.Options{Days: 40, Now: frozen(now)})
	dir := t.TempDir()
	// The account's price wins over the flags' default.
	cfg := writeConfig(t, dir, "1h", accountYAML("acme", f, "    ipu_price: 1.25\n    currency: EUR\n"))
	output, _ := runFocus(t, dir, now, "--config.file="+cfg, "--from=2027-02-10", "--ipu-price=9", "--currency=USD")
	header, rows := readFOCUS(t, output)
	data := f.Dataset()
	served := data.Rows(data.Orgs, date(2027, 2, 10, 0, 0, 0), date(2027, 2, 28, 0, 0, 0))
	if len(rows) != len(served) {
		t.Errorf("%d rows, want one per org, meter and day the fake served: %d", len(rows), len(served))
	}
	checkFOCUSSums(t, rows, served, 1.25)
	for _, h := range header {
		if strings.HasPrefix(h, "x_Asset") {
			t.Errorf("asset column %s at meter granularity", h)
		}
	}
	names := map[string]string{}
	for _, o := range fake.DemoOrgs {
		names[o.ID] = o.Name
	}
	last := 0
	for _, r := range rows {
		if r["BillingAccountId"] != fake.DemoOrgs[0].ID || r["BillingAccountName"] != "acme" || r["BillingCurrency"] != "EUR" {
			t.Errorf("billing account %q %q %q, want the login org, the account's name and EUR", r["BillingAccountId"], r["BillingAccountName"], r["BillingCurrency"])
		}
		if r["SubAccountName"] != names[r["SubAccountId"]] || r["ResourceId"] != "" || r["PricingCurrency"] != "IPU" || r["PricingUnit"] != "IPU" {
			t.Errorf("row %v", r)
		}
		if r["ChargePeriodStart"] >= "2027-03-01" {
			t.Errorf("a row for today (or later): %s", r["ChargePeriodStart"])
		}
		if r["ChargePeriodStart"] == "2027-02-28T00:00:00Z" {
			last++
			if r["BillingPeriodStart"] != "2027-02-01T00:00:00Z" || r["BillingPeriodEnd"] != "2027-03-01T00:00:00Z" {
				t.Errorf("billing period %s - %s on 28 February, want 2027-02-01T00:00:00Z - 2027-03-01T00:00:00Z", r["BillingPeriodStart"], r["BillingPeriodEnd"])
			}
		}
	}
	if last == 0 {
		t.Error("no rows for yesterday, 28 February")
	}

	// By asset: the fake splits the login org's summary IPUs over its
	// assets (ASSET jobs cover the requesting org only), so the sums hold.
	output, _ = runFocus(t, dir, now, "--config.file="+cfg, "--from=2027-02-10", "--ipu-price=9", "--currency=USD", "--by=asset")
	header, rows = readFOCUS(t, output)
	if !contains(header, "x_AssetName") {
		t.Errorf("no x_AssetName column: %v", header)
	}
	checkFOCUSSums(t, rows, data.Rows(data.Orgs[:1], date(2027, 2, 10, 0, 0, 0), date(2027, 2, 28, 0, 0, 0)), 1.25)
}

// TestFocusFromZIPs: exports read without credentials; an org name in
// Windows-1252 bytes comes out as UTF-8, and today's rows in the ZIP are not
// written even when --to asks for them.
func TestFocusFromZIPs(t *testing.T) {
	t.Parallel()
	now := date(2027, 3, 1, 0, 0, 30)
	orgs := []fake.Org{
		{ID: "0cuQSDTq5sikvN7x8r1xm1", Name: "Soci\xe9t\xe9 G\xe9n\xe9rale", Type: "Production", Scale: 1},
		{ID: "6fRxkT2bqYc9WvLm0PzQ3e", Name: "M\xfcller \x80 Partner", Type: "Sub-Organization", Scale: 0.3},
	}
	f := startFake(t, fake.Options{Days: 20, Now: frozen(now), Orgs: orgs})
	data := f.Dataset()
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "export.zip")
	os.WriteFile(zipPath, f.ZIP(data.Rows(data.Orgs, data.First, data.Last), false), 0o600)
	output, logs := runFocus(t, dir, now, "--zip="+zipPath, "--from=2027-02-20", "--to=2027-03-01",
		"--ipu-price=0.1", "--currency=USD", "--billing-account-id="+orgs[0].ID)
	if len(logs.Lines("level=warn", "--to is today or later")) != 1 {
		t.Errorf("no warning that --to was cut to yesterday:\n%s", logs)
	}
	_, rows := readFOCUS(t, output)
	checkFOCUSSums(t, rows, data.Rows(data.Orgs, date(2027, 2, 20, 0, 0, 0), date(2027, 2, 28, 0, 0, 0)), 0.1)
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r["SubAccountName"]] = true
		if r["BillingAccountId"] != orgs[0].ID || r["BillingAccountName"] != orgs[0].ID {
			t.Errorf("billing account %q %q, want --billing-account-id for both", r["BillingAccountId"], r["BillingAccountName"])
		}
		if r["ChargePeriodStart"] >= "2027-03-01" {
			t.Errorf("a row for today: %s", r["ChargePeriodStart"])
		}
	}
	if !seen["Société Générale"] || !seen["Müller € Partner"] {
		t.Errorf("org names %v, want the Windows-1252 names transcoded", seen)
	}
}

// TestFocusByAssetFromZIPs: --by=asset writes one row per asset row, with
// the asset in x_ columns and as the resource; the org name and billing
// period come from the SUMMARY export.
func TestFocusByAssetFromZIPs(t *testing.T) {
	t.Parallel()
	now := date(2027, 3, 1, 0, 0, 30)
	f := startFake(t, fake.Options{Days: 20, Now: frozen(now)})
	data := f.Dataset()
	dir := t.TempDir()
	summary := filepath.Join(dir, "summary.zip")
	os.WriteFile(summary, f.ZIP(data.Rows(data.Orgs, data.First, data.Last), false), 0o600)
	prod, di := fake.DemoOrgs[0], fake.DemoMeters[0]
	var assets bytes.Buffer
	zw := zip.NewWriter(&assets)
	w, _ := zw.Create("IPU_Usage_Asset.csv")
	fmt.Fprint(w, "Meter ID,Meter Name,Date,Asset Name,Asset Type,Project,Folder,Org ID,Org Type,Environment Name,Environment Type,Tier,IPU Per Unit,Usage,Consumption (IPUs)\r\n")
	fmt.Fprintf(w, "%s,%s,2027-02-27,m_load_orders,Mapping Task,Sales,\"Daily, EU\",%s,Production,Caf\xe9 Agent,Serverless,Tier 1,0.06,100,6\r\n", di.ID, di.Name, prod.ID)
	fmt.Fprintf(w, "%s,%s,2027-02-27,old_task,Mapping Task,,,%s,Production,Agent,Serverless,Tier 1,0.06,50,3\r\n", di.ID, di.Name, prod.ID)
	fmt.Fprintf(w, "%s,%s,2027-03-01,m_load_orders,Mapping Task,Sales,\"Daily, EU\",%s,Production,Agent,Serverless,Tier 1,0.06,1,0.06\r\n", di.ID, di.Name, prod.ID)
	zw.Close()
	assetZIP := filepath.Join(dir, "assets.zip")
	os.WriteFile(assetZIP, assets.Bytes(), 0o600)
	output, _ := runFocus(t, dir, now, "--by=asset", "--zip="+summary, "--asset-zip="+assetZIP, "--from=2027-02-20",
		"--ipu-price=2", "--currency=EUR", "--billing-account-id="+prod.ID, "--billing-account-name=Acme")
	header, rows := readFOCUS(t, output)
	for _, c := range []string{"x_AssetName", "x_AssetType", "x_Project", "x_Folder", "x_Environment"} {
		if !contains(header, c) {
			t.Errorf("no column %s", c)
		}
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows, want the 2 asset rows before today", len(rows))
	}
	r := rows[0]
	for c, want := range map[string]string{
		"x_AssetName": "m_load_orders", "x_AssetType": "Mapping Task", "x_Project": "Sales", "x_Folder": "Daily, EU", "x_Environment": "Café Agent",
		"ResourceName": "m_load_orders", "ResourceType": "Mapping Task", "ResourceId": prod.ID + "/Sales/Daily, EU/Mapping Task/m_load_orders",
		"SubAccountName": prod.Name, "ServiceName": di.Name, "SkuId": di.ID, "ConsumedQuantity": "100", "ConsumedUnit": di.Scalar,
		"PricingQuantity": "6", "BilledCost": "12", "BillingPeriodStart": "2027-02-01T00:00:00Z", "BillingPeriodEnd": "2027-03-01T00:00:00Z",
		"BillingAccountName": "Acme",
	} {
		if r[c] != want {
			t.Errorf("%s = %q, want %q", c, r[c], want)
		}
	}
	if rows[1]["x_Project"] != "" || rows[1]["ResourceId"] == "" {
		t.Errorf("deleted asset: project %q resource %q, want a blank project and a resource", rows[1]["x_Project"], rows[1]["ResourceId"])
	}
}

func TestFocusBadArguments(t *testing.T) {
	t.Parallel()
	f := startFake(t, fake.Options{Days: 5})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "1h", accountYAML("acme", f, ""))
	zipPath := filepath.Join(dir, "export.zip")
	data := f.Dataset()
	os.WriteFile(zipPath, f.ZIP(data.Rows(data.Orgs, data.First, data.Last), false), 0o600)
	from := "--from=" + data.First.Format(time.DateOnly)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"focus", "--output=-", from, "--config.file=" + cfg}, 1, "the account sets no ipu_price and currency"},
		{[]string{"focus", "--output=-", from, "--zip=" + zipPath, "--ipu-price=1", "--currency=EUR"}, 2, "--billing-account-id is required with --zip"},
		{[]string{"focus", "--output=-", from, "--zip=" + zipPath, "--billing-account-id=x"}, 2, "--ipu-price and --currency are required with --zip"},
		{[]string{"focus", "--output=-", from, "--config.file=" + cfg, "--ipu-price=1", "--currency=eur"}, 2, `--currency: \"eur\" is not an active ISO 4217 currency code`},
		{[]string{"focus", "--output=-", from, "--config.file=" + cfg, "--ipu-price=1", "--currency=IPU"}, 2, `--currency: \"IPU\" is not an active ISO 4217`},
		{[]string{"focus", "--output=-", from, "--config.file=" + cfg, "--ipu-price=1", "--currency=ABC"}, 2, `--currency: \"ABC\" is not an active ISO 4217`},
		{[]string{"focus", "--output=-", from, "--config.file=" + cfg, "--ipu-price=1,5", "--currency=EUR"}, 2, `--ipu-price: \"1,5\" is not a price`},
		{[]string{"focus", "--output=-", from, "--config.file=" + cfg, "--ipu-price=-1", "--currency=EUR"}, 2, "is not a price"},
		// The configuration refuses ipu_price 0: a price of 0 would claim the usage was free.
		{[]string{"focus", "--output=-", from, "--config.file=" + cfg, "--ipu-price=0", "--currency=EUR"}, 2, "--ipu-price: 0 is not a price > 0"},
		{[]string{"focus", "--output=-", from, "--config.file=" + cfg, "--ipu-price=NaN", "--currency=EUR"}, 2, "--ipu-price: NaN is not a price > 0"},
		{[]string{"focus", "--output=-", "--from=01/02/2026", "--config.file=" + cfg, "--ipu-price=1", "--currency=EUR"}, 2, "is not an ISO 8601 date"},
		{[]string{"focus", "--output=-", from, "--by=asset", "--zip=" + zipPath, "--ipu-price=1", "--currency=EUR", "--billing-account-id=x"}, 2, "needs --asset-zip"},
		{[]string{"focus", "--output=-", from, "--asset-zip=" + zipPath, "--config.file=" + cfg}, 2, "--asset-zip needs --by=asset and --zip"},
		{[]string{"focus", "--output=-", from, "--by=task", "--zip=" + zipPath, "--ipu-price=1", "--currency=EUR", "--billing-account-id=x"}, 2, "needs --task-zip"},
		{[]string{"focus", "--output=-", from, "--task-zip=" + zipPath, "--zip=" + zipPath, "--ipu-price=1", "--currency=EUR", "--billing-account-id=x"}, 2, "--task-zip needs --by=task and --zip"},
		{[]string{"focus", "--output=-", from, "--by=project", "--config.file=" + cfg}, 2, "project"},
	} {
		logs := &syncBuffer{}
		if code := run(c.args, logs, hooks{}); code != c.code || !strings.Contains(logs.String(), c.want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s", c.args, code, c.code, c.want, logs)
		}
	}
}

// jobLevelRows are the SUMMARY rows of the meters whose job-level files
// carry IPUs (one row per run): what task rows can add up to.
func jobLevelRows(rows []fake.Row) []fake.Row {
	var out []fake.Row
	for _, r := range rows {
		if r.Meter.JobLevel == fake.JobLevelRuns {
			out = append(out, r)
		}
	}
	return out
}

// TestFocusByTaskFromInformatica: --by=task sums the fake's task runs per
// org, meter, task and day. The runs' files name their meter only by file
// name ("Data Integration Elastic.csv" must not go to "Data Integration");
// the files without IPUs and of an unknown layout are skipped with a
// warning, and add no rows.
func TestFocusByTaskFromInformatica(t *testing.T) {
	t.Parallel()
	now := date(2027, 3, 1, 0, 0, 30)
	f := startFake(t, fake.Options{Days: 40, Now: frozen(now)})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "1h", accountYAML("acme", f, "    ipu_price: 1.25\n    currency: EUR\n"))
	output, logs := runFocus(t, dir, now, "--config.file="+cfg, "--by=task", "--from=2027-02-10")
	header, rows := readFOCUS(t, output)
	for _, c := range focusTaskColumns {
		if !contains(header, c) {
			t.Errorf("no column %s in %v", c, header)
		}
	}
	data := f.Dataset()
	from, to := date(2027, 2, 10, 0, 0, 0), date(2027, 2, 28, 0, 0, 0)
	// Job-level exports cover the login org only.
	checkFOCUSSums(t, rows, jobLevelRows(data.Rows(data.Orgs[:1], from, to)), 1.25)

	runs := data.TaskRuns(data.Orgs[0], from, to)
	type key struct{ org, meter, task, day string }
	wantRuns := map[key]int{}
	names := map[string]fake.TaskRun{}
	for _, r := range runs {
		wantRuns[key{r.Org.ID, r.Meter.ID, r.TaskID, r.Date.Format(focusTime)}]++
		names[r.TaskID] = r
	}
	if len(rows) != len(wantRuns) {
		t.Errorf("%d rows, want one per org, meter, task and day with runs: %d", len(rows), len(wantRuns))
	}
	for _, r := range rows {
		k := key{r["SubAccountId"], r["SkuId"], r["x_TaskId"], r["ChargePeriodStart"]}
		if n, err := strconv.Atoi(r["x_TaskRuns"]); err != nil || n != wantRuns[k] {
			t.Errorf("%v: x_TaskRuns %q, want %d", k, r["x_TaskRuns"], wantRuns[k])
		}
		delete(wantRuns, k) // a second row for the same key fails above
		run := names[r["x_TaskId"]]
		for c, want := range map[string]string{
			"x_TaskName": run.TaskName, "x_TaskType": run.TaskType, "ResourceName": run.TaskName, "ResourceType": run.TaskType,
			"ResourceId": run.Org.ID + "/" + run.TaskID, "x_Project": run.Project, "x_Folder": run.Folder, "x_Environment": run.Environment,
			"ConsumedUnit": run.Meter.Scalar, "x_IPUPerUnit": focusNumber(run.Meter.Rate), "SubAccountName": run.Org.Name,
		} {
			if r[c] != want {
				t.Errorf("task %s: %s = %q, want %q", r["x_TaskId"], c, r[c], want)
			}
		}
	}
	for _, m := range data.JobLevelMeters() {
		if m.JobLevel == fake.JobLevelRuns {
			continue
		}
		if len(logs.Lines("level=warn", "layout is not known", fake.JobLevelFileName(m))) == 0 {
			t.Errorf("no warning that the job-level file %s was skipped:\n%s", fake.JobLevelFileName(m), logs)
		}
	}
}

// TestFocusByTaskFromZIPs: --task-zip is read like a downloaded job-level
// export: a per-run file named after its meter, a file with a Meter ID
// column, a file no meter of the SUMMARY export matches (one warning, no
// rows) and a file of an unknown layout (a warning, no rows).
func TestFocusByTaskFromZIPs(t *testing.T) {
	t.Parallel()
	now := date(2027, 3, 1, 0, 0, 30)
	f := startFake(t, fake.Options{Days: 20, Now: frozen(now)})
	data := f.Dataset()
	dir := t.TempDir()
	summary := filepath.Join(dir, "summary.zip")
	os.WriteFile(summary, f.ZIP(data.Rows(data.Orgs, data.First, data.Last), false), 0o600)
	prod, di, die := fake.DemoOrgs[0], fake.DemoMeters[0], fake.DemoMeters[1]
	var tasks bytes.Buffer
	zw := zip.NewWriter(&tasks)
	runHeader := "Task ID,Task Name,Task Object Name,Task Type,Task Run ID,Project Name,Folder Name,Org ID,Environment,Start Time,End Time,Status,Metered Value\r\n"
	w, _ := zw.Create("data_integration_elastic.csv")
	fmt.Fprint(w, runHeader)
	fmt.Fprintf(w, "0100001Z000000000ABC,mt_orders,m_orders,MTT,1,Sales,\"Daily, EU\",%s,Caf\xe9 Agent,2027-02-27T01:00:00Z,2027-02-27T01:30:00Z,Success,1.5\r\n", prod.ID)
	fmt.Fprintf(w, "0100001Z000000000ABC,mt_orders,m_orders,MTT,2,Sales,\"Daily, EU\",%s,Caf\xe9 Agent,2027-02-27T23:40:00Z,2027-02-28T00:30:00Z,Success,2.25\r\n", prod.ID)
	fmt.Fprintf(w, "0100001Z000000000ABC,mt_orders,m_orders,MTT,3,Sales,\"Daily, EU\",%s,Caf\xe9 Agent,2027-02-28T01:00:00Z,2027-02-28T01:30:00Z,Failed,0.5\r\n", prod.ID)
	// Today: not written.
	fmt.Fprintf(w, "0100001Z000000000ABC,mt_orders,m_orders,MTT,4,Sales,\"Daily, EU\",%s,Caf\xe9 Agent,2027-03-01T00:00:10Z,,Success,9\r\n", prod.ID)
	w, _ = zw.Create("job_level.csv")
	fmt.Fprint(w, "Meter ID,"+runHeader)
	fmt.Fprintf(w, "%s,0100001Z000000000DEF,dss_contacts,,DSS,7,,,%s,Agent,2027-02-27T05:00:00Z,2027-02-27T05:01:00Z,Success,0.125\r\n", di.ID, prod.ID)
	w, _ = zw.Create("Hyperautomation.csv")
	fmt.Fprint(w, runHeader)
	fmt.Fprintf(w, "0100001Z000000000XYZ,x,x,MTT,1,,,%s,Agent,2027-02-27T05:00:00Z,,Success,100\r\n", prod.ID)
	fmt.Fprintf(w, "0100001Z000000000XYZ,x,x,MTT,2,,,%s,Agent,2027-02-27T06:00:00Z,,Success,100\r\n", prod.ID)
	w, _ = zw.Create("Mass Ingestion Files.csv")
	fmt.Fprint(w, "Job Name,Job Run ID,Org ID,Started,Finished,Bytes Transferred\r\n")
	fmt.Fprintf(w, "landing,1,%s,2027-02-27T05:00:00Z,2027-02-27T06:00:00Z,1000\r\n", prod.ID)
	zw.Close()
	taskZIP := filepath.Join(dir, "tasks.zip")
	os.WriteFile(taskZIP, tasks.Bytes(), 0o600)
	output, logs := runFocus(t, dir, now, "--by=task", "--zip="+summary, "--task-zip="+taskZIP, "--from=2027-02-20",
		"--ipu-price=2", "--currency=EUR", "--billing-account-id="+prod.ID)
	_, rows := readFOCUS(t, output)
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3: mt_orders on 27 and 28 February, dss_contacts on the 27th", len(rows))
	}
	want := []map[string]string{{
		"ChargePeriodStart": "2027-02-27T00:00:00Z", "SkuId": die.ID, "ServiceName": die.Name, "x_TaskId": "0100001Z000000000ABC",
		"x_TaskName": "mt_orders", "x_TaskType": "MTT", "x_TaskRuns": "2", "PricingQuantity": "3.75", "BilledCost": "7.5",
		"x_Project": "Sales", "x_Folder": "Daily, EU", "x_Environment": "Café Agent", "ResourceName": "mt_orders", "ResourceType": "MTT",
		"ResourceId": prod.ID + "/0100001Z000000000ABC", "SubAccountName": prod.Name, "ChargeDescription": die.Name + " usage by MTT mt_orders",
		"BillingPeriodStart": "2027-02-01T00:00:00Z", "BillingPeriodEnd": "2027-03-01T00:00:00Z",
	}, {
		"ChargePeriodStart": "2027-02-27T00:00:00Z", "SkuId": di.ID, "x_TaskId": "0100001Z000000000DEF", "x_TaskRuns": "1",
		"PricingQuantity": "0.125", "x_Project": "", "ResourceName": "dss_contacts",
	}, {
		"ChargePeriodStart": "2027-02-28T00:00:00Z", "SkuId": die.ID, "x_TaskId": "0100001Z000000000ABC", "x_TaskRuns": "1", "PricingQuantity": "0.5",
	}}
	for i, w := range want {
		for c, v := range w {
			if rows[i][c] != v {
				t.Errorf("row %d: %s = %q, want %q", i, c, rows[i][c], v)
			}
		}
	}
	if n := len(logs.Lines("level=warn", "names no meter", "Hyperautomation")); n != 1 {
		t.Errorf("%d warnings for the file no meter matches, want 1:\n%s", n, logs)
	}
	if n := len(logs.Lines("level=warn", "layout is not known", "Mass Ingestion Files.csv")); n != 1 {
		t.Errorf("%d warnings for the file of an unknown layout, want 1:\n%s", n, logs)
	}
}

// TestFocusNullMeterUsage: where a SUMMARY row's MeterUsage is null (read
// as 0) beside IPUs, ConsumedQuantity is no placeholder 0: it is the IPUs
// over the IPURate in the meter's unit, or without a rate the IPUs in unit
// IPU. A known usage, and a true 0 beside 0 IPUs, are written as they are.
func TestFocusNullMeterUsage(t *testing.T) {
	day := date(2026, 3, 2, 0, 0, 0)
	b := usage.NewBuilder()
	for _, r := range []informatica.UsageRow{
		{MeterID: "m1", MeterName: "Data Integration", Scalar: "Compute Units", IPU: 824, IPURate: 2, HasIPURate: true},
		{MeterID: "m2", MeterName: "Mass Ingestion", Scalar: "GB", IPU: 10},
		{MeterID: "m3", MeterName: "API Management", Scalar: "Calls", MeterUsage: 5, IPU: 10, IPURate: 2, HasIPURate: true},
		{MeterID: "m4", MeterName: "Data Quality", Scalar: "Rows", IPURate: 3, HasIPURate: true},
	} {
		r.OrgID, r.OrgName, r.Date = "o1", "Prod", day
		if err := b.Add(&r); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	src := []focusSource{{account: focusAccount{id: "o1", name: "acme", price: 1, currency: "USD"}, summary: b.Table()}}
	if _, err := writeFOCUS(&out, src, "meter", day, day); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "focus.csv")
	os.WriteFile(path, out.Bytes(), 0o600)
	_, rows := readFOCUS(t, path)
	want := map[string][2]string{
		"m1": {"412", "Compute Units"},
		"m2": {"10", "IPU"},
		"m3": {"5", "Calls"},
		"m4": {"0", "Rows"},
	}
	for _, r := range rows {
		w := want[r["SkuId"]]
		if r["ConsumedQuantity"] != w[0] || r["ConsumedUnit"] != w[1] {
			t.Errorf("meter %s: ConsumedQuantity %s %s, want %s %s", r["SkuId"], r["ConsumedQuantity"], r["ConsumedUnit"], w[0], w[1])
		}
		delete(want, r["SkuId"])
	}
	if len(want) != 0 {
		t.Errorf("no rows for %v", want)
	}
}

// TestEmptyRangeWarns: a focus export or backfill of days without usage
// writes its header (or nothing) and exits 0, but warns, naming the range
// and the accounts, so that a wrong --from is noticed.
func TestEmptyRangeWarns(t *testing.T) {
	t.Parallel()
	now := date(2027, 3, 1, 0, 0, 30)
	f := startFake(t, fake.Options{Days: 5, Now: frozen(now)})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "1h", accountYAML("acme", f, "    ipu_price: 1.25\n    currency: EUR\n"))
	for _, command := range []string{"focus", "backfill"} {
		logs := &syncBuffer{}
		args := []string{command, "--output=" + filepath.Join(dir, command+".out"), "--config.file=" + cfg, "--from=2026-01-01", "--to=2026-01-31"}
		if code := run(args, logs, hooks{now: frozen(now)}); code != 0 {
			t.Fatalf("%s exited %d:\n%s", command, code, logs)
		}
		if warns := logs.Lines("level=warn", "from=2026-01-01", "to=2026-01-31", "accounts=acme"); len(warns) != 1 {
			t.Errorf("%s of an empty range: %d warnings naming the range and the account, want 1:\n%s", command, len(warns), logs)
		}
	}
	// With data in the range, no such warning.
	logs := &syncBuffer{}
	if code := run([]string{"focus", "--output=" + filepath.Join(dir, "full.csv"), "--config.file=" + cfg, "--from=2027-02-26"}, logs, hooks{now: frozen(now)}); code != 0 {
		t.Fatalf("focus exited %d:\n%s", code, logs)
	}
	if warns := logs.Lines("level=warn"); len(warns) != 0 {
		t.Errorf("warnings for a range with data:\n%s", warns)
	}
}
