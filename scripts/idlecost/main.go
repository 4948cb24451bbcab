// Command idlecost measures what the exporter costs between refreshes: it
// starts the fake Informatica and the exporter (both built beforehand) with
// an hourly refresh, waits for the first refresh and a few quiet seconds,
// then reads the exporter's CPU time (utime + stime in /proc/<pid>/stat) and
// its context switches (/proc/<pid>/status) over an idle period in which
// nothing scrapes it. Linux only. scripts/bench.sh runs it.
//
//	go run ./scripts/idlecost -exporter ./informatica_exporter -fake ./fakeinformatica -seconds 60
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	exporter := flag.String("exporter", "./informatica_exporter", "the built exporter")
	fakeBin := flag.String("fake", "./fakeinformatica", "the built scripts/fakeinformatica")
	seconds := flag.Int("seconds", 60, "idle seconds to measure")
	days := flag.Int("days", 400, "days of history the fake serves")
	flag.Parse()
	if err := run(*exporter, *fakeBin, time.Duration(*seconds)*time.Second, *days); err != nil {
		fmt.Fprintln(os.Stderr, "idlecost:", err)
		os.Exit(1)
	}
}

func run(exporter, fakeBin string, idle time.Duration, days int) error {
	dir, err := os.MkdirTemp("", "idlecost-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	fake := exec.Command(fakeBin, "-days", strconv.Itoa(days))
	out, err := fake.StdoutPipe()
	if err != nil {
		return err
	}
	if err := fake.Start(); err != nil {
		return err
	}
	defer stop(fake)
	first, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("fake: %w", err)
	}
	go io.Copy(io.Discard, out)
	var url, user, password string
	for _, f := range strings.Fields(first) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "url":
			url = v
		case "username":
			user = v
		case "password":
			password = v
		}
	}

	config := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`accounts:
  - name: idle
    login_url: %s
    username: %s
    password: %s
refresh:
  interval: 1h
  lookback: 45d
  poll_interval: 100ms
  job_timeout: 1m
  max_age: 26h
`, url, user, password)), 0o600); err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	exp := exec.Command(exporter, "--config.file="+config, "--web.listen-address="+addr, "--log.level=warn")
	exp.Stderr = os.Stderr
	if err := exp.Start(); err != nil {
		return err
	}
	defer stop(exp)

	// Wait for the first refresh, then let the process settle.
	metrics := "http://" + addr + "/metrics"
	deadline := time.Now().Add(2 * time.Minute)
	for !refreshed(metrics) {
		if time.Now().After(deadline) {
			return fmt.Errorf("no refresh after 2 minutes")
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(5 * time.Second)

	pid := exp.Process.Pid
	cpu0, err := cpuTicks(pid)
	if err != nil {
		return err
	}
	sw0, _ := switches(pid)
	time.Sleep(idle)
	cpu1, err := cpuTicks(pid)
	if err != nil {
		return err
	}
	sw1, _ := switches(pid)
	rss, _ := status(pid, "VmRSS:")
	const hz = 100 // USER_HZ, 100 on every Linux architecture Go supports
	fmt.Printf("IDLE seconds=%d cpu_seconds=%.3f cpu_percent=%.4f context_switches=%d rss_kib=%d\n",
		int(idle.Seconds()), float64(cpu1-cpu0)/hz, 100*float64(cpu1-cpu0)/hz/idle.Seconds(), sw1-sw0, rss)
	return nil
}

func refreshed(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "informatica_exporter_last_refresh_success_timestamp_seconds{") {
			return true
		}
	}
	return false
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// cpuTicks is utime + stime of a process, in clock ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state is the first, utime the 12th, stime the 13th.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	return u + s, nil
}

// switches counts the context switches of every thread of a process: each
// is a wake-up.
func switches(pid int) (int64, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	var total int64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
		if err != nil {
			continue // the thread ended
		}
		for _, l := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(l, ":")
			if k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches" {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				total += n
			}
		}
	}
	return total, nil
}

func status(pid int, key string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, key); ok {
			return strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", key, pid)
}

// stop interrupts c and waits for it to exit, killing it after 10 s. Its
// exit status is of no interest: the figures are measured before.
func stop(c *exec.Cmd) {
	if err := c.Process.Signal(os.Interrupt); err != nil {
		fmt.Fprintf(os.Stderr, "idlecost: interrupt pid %d: %v\n", c.Process.Pid, err)
	}
	done := make(chan struct{})
	go func() { _ = c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		if err := c.Process.Kill(); err != nil {
			fmt.Fprintf(os.Stderr, "idlecost: kill pid %d: %v\n", c.Process.Pid, err)
		}
		<-done
	}
}
