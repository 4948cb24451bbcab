package offline

import (
	"math"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// demoRows are the rows the simulated Informatica of --demo serves from its
// first day to yesterday: its data is a function of the day, so a fake
// with the same options, never started, holds the same.
func demoRows(t *testing.T) []fake.Row {
	t.Helper()
	data := fake.New(fake.Options{}).Dataset()
	rows := data.Rows(data.Orgs, data.First, day(time.Now().UTC()).AddDate(0, 0, -1))
	if len(rows) == 0 {
		t.Fatal("the simulated Informatica serves no rows")
	}
	return rows
}

// openMetricsSample is a sample line of the backfill: name{labels} value
// timestamp.
var openMetricsSample = regexp.MustCompile(`^informatica_ipu_day_consumed_ipus\{(?:[a-z_]+="(?:[^"\\]|\\.)*",?)+\} (\S+) (\S+)$`)

// TestBackfillDemo: backfill --demo reads the simulated Informatica, with no
// configuration file, and writes OpenMetrics that promtool turns into
// blocks, holding every IPU it serves from its first day (the default
// --from) to yesterday.
func TestBackfillDemo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	output := filepath.Join(dir, "ipu.om")
	logs := &syncBuffer{}
	args := []string{"backfill", "--demo", "--config.file=" + filepath.Join(dir, "missing.yml"), "--output=" + output}
	if code := run(args, logs, hooks{}); code != 0 {
		t.Fatalf("%q exited %d:\n%s", args, code, logs)
	}
	body := readFile(t, output)
	if !strings.HasPrefix(body, "# HELP informatica_ipu_day_consumed_ipus ") || !strings.HasSuffix(body, "\n# EOF\n") {
		t.Errorf("the output is not an OpenMetrics family ending in # EOF:\n%.300s", body)
	}
	samples, sum := 0, 0.0
	for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		m := openMetricsSample.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not a sample line: %q", line)
		}
		v, err := strconv.ParseFloat(m[1], 64)
		ts, tsErr := strconv.ParseFloat(m[2], 64)
		if err != nil || tsErr != nil || math.Mod(ts, 86400) != 0 {
			t.Fatalf("sample %q: want a number and the timestamp of a day's 00:00 UTC", line)
		}
		samples++
		sum += v
	}
	want := 0.0
	for _, r := range demoRows(t) {
		want += r.IPU
	}
	if samples == 0 || math.Abs(sum-want) > 1e-6*want {
		t.Errorf("%d samples summing to %v IPUs, want the %v the simulated Informatica serves", samples, sum, want)
	}
	promtool := requireProgram(t, "promtool")
	if out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", maxBlockDuration, output, t.TempDir()).CombinedOutput(); err != nil {
		t.Errorf("promtool does not read the output: %v\n%s", err, out)
	}
}

// TestFocusDemo: focus --demo reads the simulated Informatica, with no
// configuration file and no price flags, and writes a valid FOCUS CSV: one
// row per org, meter and day it serves, priced at the demo's made-up 1 USD
// an IPU, which --ipu-price and --currency replace.
func TestFocusDemo(t *testing.T) {
	t.Parallel()
	served := demoRows(t)
	for _, c := range []struct {
		args     []string
		price    float64
		currency string
	}{
		{nil, 1, "USD"},
		{[]string{"--ipu-price=0.5", "--currency=EUR"}, 0.5, "EUR"},
	} {
		dir := t.TempDir()
		output := filepath.Join(dir, "focus.csv")
		logs := &syncBuffer{}
		args := append([]string{"focus", "--demo", "--config.file=" + filepath.Join(dir, "missing.yml"), "--output=" + output}, c.args...)
		if code := run(args, logs, hooks{}); code != 0 {
			t.Fatalf("%q exited %d:\n%s", args, code, logs)
		}
		_, rows := readFOCUS(t, output)
		if len(rows) != len(served) {
			t.Errorf("%q: %d rows, want one per org, meter and day served: %d", args, len(rows), len(served))
		}
		for _, r := range rows {
			if r["BillingCurrency"] != c.currency || r["BillingAccountName"] != "demo" || r["BillingAccountId"] != fake.DemoOrgs[0].ID {
				t.Fatalf("%q: billing account %q %q in %q, want the demo's login org in %s", args, r["BillingAccountId"], r["BillingAccountName"], r["BillingCurrency"], c.currency)
			}
		}
		checkFOCUSSums(t, rows, served, c.price)
	}
}

// TestDemoWithZIP: --demo and --zip are two sources; given both, the
// command says to choose.
func TestDemoWithZIP(t *testing.T) {
	zip := writeFile(t, t.TempDir(), "export.zip", "")
	for _, command := range []string{"backfill", "focus"} {
		logs := &syncBuffer{}
		args := []string{command, "--demo", "--zip=" + zip, "--from=2025-01-01", "--output=-", "--ipu-price=1", "--currency=USD", "--billing-account-id=x"}
		if command == "backfill" {
			args = args[:5]
		}
		if code := run(args, logs, hooks{}); code != 2 || !strings.Contains(logs.String(), "--demo and --zip: give one") {
			t.Errorf("%q: exit %d, want 2 saying to give one:\n%s", args, code, logs)
		}
	}
}
