package offline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/collector"
	"github.com/ipumon/informatica_exporter/informatica/fake"
	"github.com/ipumon/informatica_exporter/internal/testkit"
)

// maxBlockDuration is docs/backfill.md's promtool flag: blocks of 20.25 days, the
// largest that Prometheus' own compaction makes (2h times a power of 3, at most
// 31 days); promtool rounds any other value down to such a range.
const maxBlockDuration = "--max-block-duration=486h"

// countOpenMetricsDays counts the distinct days (UTC) of an OpenMetrics
// file's sample timestamps.
func countOpenMetricsDays(t *testing.T, path string) int {
	t.Helper()
	days := map[string]bool{}
	for _, line := range strings.Split(readFile(t, path), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		sec, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			t.Fatalf("%s: no timestamp in %q", path, line)
		}
		days[time.Unix(int64(sec), 0).UTC().Format(time.DateOnly)] = true
	}
	return len(days)
}

// prometheusOnBlocks turns an OpenMetrics file into TSDB blocks with
// promtool and starts a real Prometheus on them; it returns the address of
// its HTTP API.
func prometheusOnBlocks(t *testing.T, openMetrics string) string {
	t.Helper()
	promtool := requireProgram(t, "promtool")
	prometheus := requireProgram(t, "prometheus")
	data := t.TempDir()
	// The backfill page's recipe, so that what it tells users to run is what is tested.
	if !strings.Contains(readFile(t, "../docs/backfill.md"), "promtool tsdb create-blocks-from openmetrics "+maxBlockDuration+" ipu.om ./blocks") {
		t.Errorf("docs/backfill.md's recipe does not run promtool with %s", maxBlockDuration)
	}
	out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", maxBlockDuration, openMetrics, data).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool tsdb create-blocks-from openmetrics: %v\n%s", err, out)
	}
	// Without the flag promtool writes one block per 2h window that holds a
	// sample: one per day. With it, a block spans up to 20.25 days.
	blocks, _ := filepath.Glob(filepath.Join(data, "*", "meta.json"))
	if days := countOpenMetricsDays(t, openMetrics); len(blocks) > days/20+2 {
		t.Errorf("%d TSDB blocks for %d days of samples, want at most %d", len(blocks), days, days/20+2)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := writeFile(t, t.TempDir(), "prometheus.yml", "global:\n  scrape_interval: 1m\n")
	cmd := exec.Command(prometheus, "--config.file="+cfg, "--storage.tsdb.path="+data,
		"--storage.tsdb.retention.time=100y", "--web.listen-address="+addr)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, 60*time.Second, "Prometheus to be ready", func() bool {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return "http://" + addr
}

// promQuery runs an instant query and returns each series' value by the
// given label's value.
func promQuery(t *testing.T, api, query string, at time.Time, by string) map[string]float64 {
	t.Helper()
	u := api + "/api/v1/query?" + url.Values{"query": {query}, "time": {strconv.FormatInt(at.Unix(), 10)}}.Encode()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %v %+v", query, err, r)
	}
	out := map[string]float64{}
	for _, s := range r.Data.Result {
		v, _ := strconv.ParseFloat(s.Value[1].(string), 64)
		out[s.Metric[by]] = v
	}
	return out
}

// TestBackfillYearIntoPrometheus exports a year of history from the fake
// through the backfill command, turns it into blocks with promtool, and asks
// a Prometheus started on them for days of that year.
func TestBackfillYearIntoPrometheus(t *testing.T) {
	t.Parallel()
	f := startFake(t, fake.Options{Days: 400})
	dir := t.TempDir()
	now := time.Now().UTC()
	yesterday := day(now.AddDate(0, 0, -1))
	from := yesterday.AddDate(-1, 0, 1)
	// history.start a year back: the backfill's default first day.
	cfg := writeConfig(t, dir, "1h", accountYAML("acme", f, ""))
	writeFile(t, dir, "config.yml", readFile(t, cfg)+"history:\n  start: "+from.Format(time.DateOnly)+"\n")
	output := filepath.Join(dir, "backfill.om")
	logs := &syncBuffer{}
	args := []string{"backfill", "--config.file=" + cfg, "--output=" + output}
	if code := run(args, logs, hooks{}); code != 0 {
		t.Fatalf("backfill exited %d:\n%s", code, logs)
	}
	if n := f.Calls(fake.EndpointExport); n != 3 {
		t.Errorf("a year took %d export jobs, want 3 of at most 180 days", n)
	}
	body, err := os.ReadFile(output)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(body), "# EOF\n") {
		t.Errorf("the OpenMetrics file does not end in # EOF")
	}
	api := prometheusOnBlocks(t, output)

	data := f.Dataset()
	prod := fake.DemoOrgs[0]
	subOrgs := fake.DemoMeters[len(fake.DemoMeters)-1] // a row every day
	days := promQuery(t, api, fmt.Sprintf(`count_over_time(informatica_ipu_day_consumed_ipus{org_id=%q,meter_id=%q}[400d])`, prod.ID, subOrgs.ID), now, "org_id")
	if got, want := days[prod.ID], yesterday.Sub(from).Hours()/24+1; got != want {
		t.Errorf("Prometheus holds %v days of a meter that reports every day, want %v", got, want)
	}
	for _, d := range []time.Time{from, from.AddDate(0, 3, 17), yesterday} {
		want := map[string]float64{}
		for _, r := range data.Rows(data.Orgs, d, d) {
			if r.Org.ID == prod.ID {
				want[r.Meter.ID] = r.IPU
			}
		}
		got := promQuery(t, api, fmt.Sprintf(`informatica_ipu_day_consumed_ipus{org_id=%q}`, prod.ID), d, "meter_id")
		if len(got) != len(want) {
			t.Errorf("%s: %d meters in Prometheus, %d served", d.Format(time.DateOnly), len(got), len(want))
		}
		for meter, w := range want {
			if got[meter] != w {
				t.Errorf("%s meter %s: Prometheus has %v, the fake served %v", d.Format(time.DateOnly), meter, got[meter], w)
			}
		}
	}
	if got := promQuery(t, api, `informatica_ipu_day_consumed_ipus`, from.AddDate(0, 0, -1), "org_id"); len(got) != 0 {
		t.Errorf("samples before --from: %v", got)
	}
}

// TestBackfillFromZIPs reads downloaded exports without credentials; where
// two overlap, the later one's days win rather than add up.
func TestBackfillFromZIPs(t *testing.T) {
	t.Parallel()
	f := startFake(t, fake.Options{Days: 60})
	data := f.Dataset()
	last := data.Last.AddDate(0, 0, -1)
	older := data.Rows(data.Orgs, last.AddDate(0, 0, -20), last.AddDate(0, 0, -5))
	data.Generation = 1 // the newer export restates the overlapping days
	newer := data.Rows(data.Orgs, last.AddDate(0, 0, -9), last)
	dir := t.TempDir()
	zip1 := filepath.Join(dir, "older.zip")
	zip2 := filepath.Join(dir, "newer.zip")
	os.WriteFile(zip1, f.ZIP(older, false), 0o600)
	os.WriteFile(zip2, f.ZIP(newer, true), 0o600)
	output := filepath.Join(dir, "backfill.om")
	logs := &syncBuffer{}
	args := []string{
		"backfill", "--zip=" + zip1, "--zip=" + zip2, "--from=" + last.AddDate(0, 0, -20).Format(time.DateOnly),
		"--to=" + last.Format(time.DateOnly), "--output=" + output,
	}
	if code := run(args, logs, hooks{}); code != 0 {
		t.Fatalf("backfill exited %d:\n%s", code, logs)
	}
	api := prometheusOnBlocks(t, output)
	for _, c := range []struct {
		day  time.Time
		rows []fake.Row
	}{{last.AddDate(0, 0, -15), older}, {last.AddDate(0, 0, -7), newer}, {last, newer}} {
		want := 0.0
		for _, r := range c.rows {
			if r.Date.Equal(c.day) {
				want += r.IPU
			}
		}
		got := promQuery(t, api, `sum(informatica_ipu_day_consumed_ipus)`, c.day, "")[""]
		if diff := got - want; diff > 1e-9*want || diff < -1e-9*want {
			t.Errorf("%s: Prometheus sums %v, the exports hold %v", c.day.Format(time.DateOnly), got, want)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBackfillBadArguments(t *testing.T) {
	noHistory := writeFile(t, t.TempDir(), "config.yml", "accounts:\n  - {name: a, login_url: 'https://x.example', username: u, password: p}\n")
	zip := filepath.Join(t.TempDir(), "export.zip")
	f := startFake(t, fake.Options{Days: 5})
	data := f.Dataset()
	os.WriteFile(zip, f.ZIP(data.Rows(data.Orgs, data.First, data.Last), false), 0o600)
	tomorrow := time.Now().UTC().AddDate(0, 0, 2).Format(time.DateOnly)
	for _, c := range []struct {
		args    []string
		code    int
		want    string
		notWant string
	}{
		{[]string{"backfill", "--output=-", "--config.file=" + noHistory}, 2, "--from is required, unless the configuration sets history.start", ""},
		// Zip mode reads no configuration: its error says so, not history.start.
		{[]string{"backfill", "--output=-", "--zip=" + zip}, 2, "--from is required with --zip: give the first day to write, e.g. --from=2025-01-01", "history.start"},
		{[]string{"backfill", "--from=yesterday", "--output=-", "--config.file=" + noHistory}, 2, `--from: \"yesterday\" is not an ISO 8601 date (YYYY-MM-DD)`, ""},
		// 1 May or 5 January: refused, not guessed.
		{[]string{"backfill", "--from=01/05/2026", "--output=-", "--zip=" + zip}, 2, `--from: \"01/05/2026\" is not an ISO 8601 date (YYYY-MM-DD) such as 2025-01-01`, ""},
		{[]string{"backfill", "--from=2025-01-01", "--to=12/31/2025", "--output=-", "--zip=" + zip}, 2, `--to: \"12/31/2025\" is not an ISO 8601 date`, ""},
		{[]string{"backfill", "--from=2025-01-01T00:00:00Z", "--output=-", "--zip=" + zip}, 2, "is not an ISO 8601 date (YYYY-MM-DD)", ""},
		{[]string{"backfill", "--from=2025-02-01", "--to=2025-01-01", "--output=-", "--config.file=" + noHistory}, 2, "before --from", ""},
		{[]string{"backfill", "--from=" + tomorrow, "--output=-", "--zip=" + zip}, 2, "is today or later: only complete days are written", ""},
		{[]string{"backfill", "--from=2025-01-01", "--output=-", "--zip=does-not-exist.zip"}, 2, "does-not-exist.zip", ""},
		{[]string{"backfill", "--from=2025-01-01", "--output=-", "--zip=" + noHistory}, 1, "Cannot read an export ZIP given with --zip", ""},
		{[]string{"backfill", "--from=2025-01-01", "--output=-", "--config.file=does-not-exist.yml"}, 1, "does-not-exist.yml", ""},
	} {
		logs := &syncBuffer{}
		code := run(c.args, logs, hooks{})
		if code != c.code || !strings.Contains(logs.String(), c.want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s", c.args, code, c.code, c.want, logs)
		}
		if c.notWant != "" && strings.Contains(logs.String(), c.notWant) {
			t.Errorf("%v: the error mentions %q:\n%s", c.args, c.notWant, logs)
		}
	}
}

// TestBackfillNeverWritesToday: a ZIP holding today's rows, and --to in the
// future: the output ends with yesterday, and a warning says why. The clock
// is fixed, so the test runs the same on any day.
func TestBackfillNeverWritesToday(t *testing.T) {
	t.Parallel()
	now := date(2027, 3, 1, 10, 0, 0)
	f := startFake(t, fake.Options{Days: 20, Now: frozen(now)})
	data := f.Dataset()
	today := day(now)
	if !data.Last.Equal(today) {
		t.Fatalf("the fake's last day is %s, want today %s", data.Last.Format(time.DateOnly), today.Format(time.DateOnly))
	}
	dir := t.TempDir()
	zip := filepath.Join(dir, "export.zip")
	os.WriteFile(zip, f.ZIP(data.Rows(data.Orgs, data.First, data.Last), false), 0o600)
	for _, to := range []string{"", "2027-03-01", "2027-12-31"} {
		output := filepath.Join(dir, "backfill.om")
		args := []string{"backfill", "--zip=" + zip, "--from=2027-02-20", "--output=" + output}
		if to != "" {
			args = append(args, "--to="+to)
		}
		logs := &syncBuffer{}
		if code := run(args, logs, hooks{now: frozen(now)}); code != 0 {
			t.Fatalf("%v: exit %d:\n%s", args, code, logs)
		}
		warned := len(logs.Lines("level=warn", "--to is today or later", "to=2027-02-28")) == 1
		if warned != (to != "") {
			t.Errorf("--to=%s: warned %v, want %v:\n%s", to, warned, to != "", logs)
		}
		days := map[int64]bool{}
		for _, line := range strings.Split(readFile(t, output), "\n") {
			// name{labels} value timestamp; label values may hold spaces.
			i := strings.LastIndexByte(line, '}')
			if fields := strings.Fields(line[i+1:]); strings.HasPrefix(line, "informatica_ipu_day_consumed_ipus{") && len(fields) == 2 {
				ts, err := strconv.ParseFloat(fields[1], 64)
				if err != nil {
					t.Fatalf("sample %q: %v", line, err)
				}
				days[int64(ts)] = true
			}
		}
		first, last := date(2027, 2, 20, 0, 0, 0).Unix(), date(2027, 2, 28, 0, 0, 0).Unix()
		if len(days) != 9 || !days[first] || !days[last] {
			var got []string
			for d := range days {
				got = append(got, time.Unix(d, 0).UTC().Format(time.DateOnly))
			}
			t.Errorf("--to=%s: samples on %v, want the 9 days 2027-02-20 to 2027-02-28", to, got)
		}
	}
}

// TestBackfillWithCallbackURL: the backfill cannot receive callbacks, so it
// sends no callbackUrl and does not poll on the long poll_interval chosen
// for callbacks, but on the default schedule.
func TestBackfillWithCallbackURL(t *testing.T) {
	t.Parallel()
	clock := testkit.NewInstantClock(time.Now())
	f := startFake(t, fake.Options{CreatedFor: time.Minute, ProcessingFor: time.Minute, JobClock: clock.Now})
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config.yml", "accounts:\n"+
		accountYAML("acme", f, "    callback_url: https://exporter.example.com/-/callback/token\n")+
		"refresh:\n  poll_interval: 10m\n  job_timeout: 30m\n")
	yesterday := day(time.Now().UTC().AddDate(0, 0, -1))
	adjust := func(s *collector.Settings) {
		for i := range s.Accounts {
			s.Accounts[i].Client.Clock = clock
		}
	}
	logs := &syncBuffer{}
	args := []string{"backfill", "--config.file=" + cfg, "--from=" + yesterday.AddDate(0, 0, -5).Format(time.DateOnly), "--output=" + filepath.Join(dir, "out.om")}
	if code := run(args, logs, hooks{adjust: adjust}); code != 0 {
		t.Fatalf("backfill exited %d:\n%s", code, logs)
	}
	for _, r := range f.Requests() {
		if _, ok := r.Body["callbackUrl"]; ok {
			t.Errorf("the backfill sent callbackUrl: %v", r.Body)
		}
	}
	if want := []time.Duration{15 * time.Second, 30 * time.Second, 60 * time.Second, 2 * time.Minute}; !slices.Equal(clock.Sleeps(), want) {
		t.Errorf("poll delays %v, want the default schedule %v", clock.Sleeps(), want)
	}
}

// TestWriteOutputKeepsPreviousFile: the backfill and focus commands write
// through writeOutput. A write that fails, after more than a buffer's
// worth of output, leaves the previous file whole and no temporary file;
// one that succeeds replaces it, keeping its permissions.
func TestWriteOutputKeepsPreviousFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.csv")
	if err := os.WriteFile(path, []byte("previous export\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk full")
	_, err := writeOutput(path, func(w io.Writer) (int, error) {
		w.Write(bytes.Repeat([]byte("partial row\n"), 10000))
		return 10000, boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("writeOutput = %v, want the write's error", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "previous export\n" {
		t.Errorf("after a failed write the file holds %d bytes, want the previous export", len(got))
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("folder holds %d files after a failed write, want only the previous export", len(entries))
	}

	if _, err := writeOutput(path, func(w io.Writer) (int, error) {
		_, err := io.WriteString(w, "new export\n")
		return 1, err
	}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	info, _ := os.Stat(path)
	if string(got) != "new export\n" || info.Mode().Perm() != 0o640 {
		t.Errorf("after a good write: %q mode %v, want the new export with mode 0640", got, info.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("folder holds %d files after a good write, want 1", len(entries))
	}

	// A new file gets 0644; a folder that does not exist is an error.
	fresh := filepath.Join(dir, "fresh.prom")
	if _, err := writeOutput(fresh, func(w io.Writer) (int, error) { return 0, nil }); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(fresh); err != nil || info.Mode().Perm() != 0o644 {
		t.Errorf("new file: %v %v, want mode 0644", info, err)
	}
	if _, err := writeOutput(filepath.Join(dir, "missing", "x"), func(w io.Writer) (int, error) { return 0, nil }); err == nil {
		t.Error("writeOutput into a missing folder succeeded")
	}
}
