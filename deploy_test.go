package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ipumon/informatica_exporter/config"
	"github.com/ipumon/informatica_exporter/internal/testkit"
)

// TestKubernetesConfigLoads: the ConfigMap's config.yml is a valid
// configuration.
func TestKubernetesConfigLoads(t *testing.T) {
	raw := readFile(t, "deploy/kubernetes/config.yml")
	dir := t.TempDir()
	writeFile(t, dir, "password", "from-the-secret\n")
	const mounted = "/etc/informatica_exporter/password"
	if !strings.Contains(raw, "password_file: "+mounted) {
		t.Fatalf("deploy/kubernetes/config.yml does not read the password from %s", mounted)
	}
	s, err := config.Parse([]byte(strings.Replace(raw, mounted, "password", 1)), dir)
	if err != nil {
		t.Fatalf("deploy/kubernetes/config.yml: %v", err)
	}
	if len(s.Accounts) != 1 || s.Accounts[0].Client.Password != "from-the-secret" {
		t.Errorf("accounts = %+v", s.Accounts)
	}
}

// deployArgs returns the exporter's arguments in the Deployment and in the
// systemd unit's ExecStart.
func deployArgs(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, line := range strings.Split(readFile(t, "deploy/kubernetes/deployment.yaml"), "\n") {
		if m := regexp.MustCompile(`^\s+- (--\S+)$`).FindStringSubmatch(line); m != nil {
			out["deployment.yaml"] = append(out["deployment.yaml"], m[1])
		}
	}
	// ExecStart=, with its continuation lines (ending in a backslash).
	var exec []string
	inExec := false
	for _, line := range strings.Split(readFile(t, "deploy/systemd/informatica_exporter.service"), "\n") {
		if rest, ok := strings.CutPrefix(line, "ExecStart="); ok {
			line = rest
		} else if !inExec {
			continue
		}
		cont := strings.HasSuffix(line, "\\")
		exec = append(exec, strings.Fields(strings.TrimSuffix(line, "\\"))...)
		inExec = cont
	}
	if len(exec) == 0 {
		t.Fatal("the unit has no ExecStart")
	}
	if exec[0] != "/usr/local/bin/informatica_exporter" {
		t.Errorf("ExecStart runs %s, the README installs /usr/local/bin/informatica_exporter", exec[0])
	}
	out["informatica_exporter.service"] = exec[1:]
	return out
}

// TestDeployArgsAreFlags: the exporter accepts every argument that the
// Deployment and the systemd unit give it: with a configuration file that
// is not there, it exits 1 on reading it (a bad flag would exit 2).
func TestDeployArgsAreFlags(t *testing.T) {
	for file, args := range deployArgs(t) {
		if len(args) < 2 {
			t.Errorf("%s: arguments %v", file, args)
			continue
		}
		missing := filepath.Join(t.TempDir(), "config.yml")
		var replaced []string
		for _, a := range args {
			if strings.HasPrefix(a, "--config.file=") {
				a = "--config.file=" + missing
			}
			replaced = append(replaced, a)
		}
		logs := &syncBuffer{}
		if code := run(replaced, logs, hooks{}); code != 1 || !strings.Contains(logs.String(), "read config") {
			t.Errorf("%s: %v: exit %d, want 1 on reading the configuration:\n%s", file, args, code, logs)
		}
	}
}

// TestSystemdUnit: systemd-analyze verifies the unit, and rates its
// exposure at most 2.0 ("OK"); docs/deploy.md's config points password_file at
// the credential the unit loads.
func TestSystemdUnit(t *testing.T) {
	analyze := testkit.RequireProgram(t, "systemd-analyze", "systemd")
	unit := readFile(t, "deploy/systemd/informatica_exporter.service")
	const credential = "/run/credentials/informatica_exporter.service/password"
	if !strings.Contains(unit, "LoadCredential=password:/etc/informatica_exporter/password") ||
		!strings.Contains(readDocs(t), "password_file: "+credential) {
		t.Errorf("the unit's LoadCredential and the README's password_file (%s) do not agree", credential)
	}
	// verify wants ExecStart's program to exist: this test's binary stands
	// in for /usr/local/bin/informatica_exporter.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "informatica_exporter.service")
	writeFile(t, filepath.Dir(file), filepath.Base(file), strings.Replace(unit, "/usr/local/bin/informatica_exporter", self, 1))
	if out, err := exec.Command(analyze, "verify", file).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command(analyze, "security", "--offline=yes", "--threshold=20", file).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security --threshold=20: %v\n%s", err, out)
	}
	s := bufio.NewScanner(strings.NewReader(string(out)))
	for s.Scan() {
		if strings.Contains(s.Text(), "Overall exposure level") {
			t.Log(strings.TrimSpace(s.Text()))
		}
	}
}
