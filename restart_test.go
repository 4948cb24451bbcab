package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// childArgsEnv, when set, makes the test binary run the exporter with the
// JSON array of arguments it holds instead of the tests: a test starts
// the exporter as a process of its own. childNowEnv, when set too, is the
// exporter's clock, frozen (RFC 3339).
const (
	childArgsEnv = "INFORMATICA_EXPORTER_TEST_CHILD_ARGS"
	childNowEnv  = "INFORMATICA_EXPORTER_TEST_CHILD_NOW"
)

func TestMain(m *testing.M) {
	if raw := os.Getenv(childArgsEnv); raw != "" {
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			os.Stderr.WriteString("bad " + childArgsEnv + ": " + err.Error() + "\n")
			os.Exit(2)
		}
		var h hooks
		if now := os.Getenv(childNowEnv); now != "" {
			at, err := time.Parse(time.RFC3339, now)
			if err != nil {
				os.Stderr.WriteString("bad " + childNowEnv + ": " + err.Error() + "\n")
				os.Exit(2)
			}
			h.now = frozen(at)
		}
		stop := make(chan struct{})
		go func() {
			// SIGTERM stops the exporter as it stops the real one.
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGTERM)
			<-sig
			close(stop)
		}()
		h.stop = stop
		os.Exit(run(args, os.Stderr, h))
	}
	os.Exit(m.Run())
}

// startProcess runs the exporter with args as a process of its own, on a
// free loopback port, its clock frozen at now; the test ends it.
func startProcess(t testing.TB, now time.Time, args ...string) (*exporterProcess, *childProcess) {
	t.Helper()
	raw, _ := json.Marshal(append([]string{"--web.listen-address=127.0.0.1:0"}, args...))
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(raw), childNowEnv+"="+now.Format(time.RFC3339))
	p := &exporterProcess{t: t, logs: &syncBuffer{}}
	cmd.Stderr = p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	waitFor(t, 10*time.Second, "the exporter to listen", func() bool {
		select {
		case <-exited:
			t.Fatalf("exporter exited:\n%s", p.logs)
		default:
		}
		m := listenAddr.FindStringSubmatch(p.logs.String())
		if m != nil {
			p.url = "http://" + m[1]
		}
		return m != nil
	})
	return p, &childProcess{cmd: cmd, exited: exited}
}

// childProcess is an exporter startProcess started; exited closes when it
// has exited.
type childProcess struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// stop sends SIGTERM and waits for the exporter to exit.
func (c *childProcess) stop(t testing.TB) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.exited:
	case <-time.After(patience):
		t.Fatal("the exporter did not exit on SIGTERM")
	}
}

// dataSeries are the series of a scrape that come from Informatica's data
// (summary and breakdowns) and the breakdowns' success times.
func dataSeries(s map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range s {
		name, _, _ := strings.Cut(k, "{")
		if strings.HasPrefix(name, "informatica_") && !strings.HasPrefix(name, "informatica_exporter_") && name != "informatica_up" ||
			name == "informatica_exporter_last_breakdown_success_timestamp_seconds" ||
			name == "informatica_exporter_last_contract_success_timestamp_seconds" {
			out[k] = v
		}
	}
	return out
}

// everyDatasetRead tells whether an account with the asset and task
// breakdowns has read every dataset it serves: summary, both breakdowns
// and each contract source.
func everyDatasetRead(series map[string]float64, account string) bool {
	done := series[key("informatica_exporter_last_breakdown_success_timestamp_seconds", "account", account, "breakdown", "asset")] > 0 &&
		series[key("informatica_exporter_last_breakdown_success_timestamp_seconds", "account", account, "breakdown", "task")] > 0
	for _, source := range []string{"license", "org_tree", "alert_thresholds"} {
		done = done && series[key("informatica_exporter_last_contract_success_timestamp_seconds", "account", account, "source", source)] > 0
	}
	return done
}

// TestRestartServesEveryDataset restarts the exporter, a new process on
// the same --storage.path, with the asset and task breakdowns on: the
// first answer of its /metrics holds every series the first process
// served, summary, breakdowns and contract, with the same values, and Informatica
// has seen no export job. How long that took from the start of the
// process is logged, not asserted: the machine's speed is no test's
// business.
func TestRestartServesEveryDataset(t *testing.T) {
	at := date(2026, 6, 15, 12, 0, 0)
	f := startFake(t, fake.Options{Now: frozen(at)})
	dir := t.TempDir()
	storage := filepath.Join(dir, "storage")
	if err := os.Mkdir(storage, 0o700); err != nil {
		t.Fatal(err)
	}
	config := writeConfig(t, dir, "1h", accountYAML("acme", f, "    breakdowns: [asset, task]\n"))
	args := []string{"--config.file=" + config, "--storage.path=" + storage}

	first, child := startProcess(t, at, args...)
	var want map[string]float64
	waitFor(t, time.Minute, "both breakdowns and every contract source", func() bool {
		want = dataSeries(first.scrape())
		return everyDatasetRead(want, "acme")
	})
	child.stop(t)
	datasets := append([]string{"informatica_ipu_billing_period_consumed_ipus"}, breakdownMetrics...)
	datasets = append(datasets, "informatica_license_expiry_timestamp_seconds", "informatica_org_tree_info", "informatica_ipu_alert_threshold")
	for _, family := range datasets {
		found := false
		for k := range want {
			found = found || strings.HasPrefix(k, family+"{")
		}
		if !found {
			t.Fatalf("the first process served no %s", family)
		}
	}

	exports := f.Calls(fake.EndpointExport)
	restarted := time.Now()
	second, _ := startProcess(t, at.Add(time.Minute), args...)
	got := dataSeries(second.scrape())
	t.Logf("the restarted exporter's first scrape answered %s after its start, with %d of %d series", time.Since(restarted).Round(time.Millisecond), len(got), len(want))
	var wrong []string
	for k, v := range want {
		if g, ok := got[k]; !ok {
			wrong = append(wrong, fmt.Sprintf("%s missing, was %v", k, v))
		} else if g != v {
			wrong = append(wrong, fmt.Sprintf("%s = %v, was %v", k, g, v))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			wrong = append(wrong, k+" is new")
		}
	}
	if len(wrong) > 0 {
		slices.Sort(wrong)
		t.Errorf("%d of %d series differ after the restart, e.g.:\n%s", len(wrong), len(want), strings.Join(wrong[:min(len(wrong), 8)], "\n"))
	}
	if n := f.Calls(fake.EndpointExport); n != exports {
		t.Errorf("%d export jobs before the restarted exporter served its data, want none", n-exports)
	}
}
