package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// TestInformaticaSideRecipe runs docs/informatica.md's by-hand download recipe, as
// written, against the fake Informatica (only its settings are replaced),
// and reads the ZIP it downloads with backfill --zip: the recipe is the
// documented API, call by call.
func TestInformaticaSideRecipe(t *testing.T) {
	t.Parallel()
	bash := requireProgram(t, "bash")
	requireProgram(t, "curl")
	requireProgram(t, "jq")
	m := regexp.MustCompile("(?s)<!-- informatica-side-recipe:[^>]*-->\n```sh\n(.*?)```").FindStringSubmatch(readDocs(t))
	if m == nil {
		t.Fatal("README.md and docs/*.md have no informatica-side-recipe block")
	}
	f := startFake(t, fake.Options{Days: 40})
	last := f.Dataset().Last.AddDate(0, 0, -1)
	from := last.AddDate(0, 0, -9)
	dir := t.TempDir()
	writeFile(t, dir, "password", "demo-password\n")
	settings := map[string]string{
		"HOST":          f.URL(),
		"IICS_USER":     "demo",
		"PASSWORD_FILE": "./password",
		"FROM":          from.Format(time.DateOnly) + " TO=" + last.Format(time.DateOnly),
	}
	script := m[1]
	for k, v := range settings {
		re := regexp.MustCompile(`(?m)^` + k + `=\S+( TO=\S+)?`)
		if !re.MatchString(script) {
			t.Fatalf("the recipe sets no %s", k)
		}
		script = re.ReplaceAllLiteralString(script, k+"="+v)
	}
	script = strings.Replace(script, "sleep 15", "sleep 0.05", 1)
	cmd := exec.Command(bash, "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the recipe failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), ": SUCCESS") {
		t.Errorf("the recipe did not print the job's SUCCESS:\n%s", out)
	}
	for _, endpoint := range []string{fake.EndpointLogin, fake.EndpointExport, fake.EndpointDownload, fake.EndpointLogout} {
		if f.Calls(endpoint) != 1 {
			t.Errorf("the recipe called %s %d times, want once", endpoint, f.Calls(endpoint))
		}
	}
	for _, r := range f.Requests() {
		if r.Endpoint == fake.EndpointExport && (r.Body["jobType"] != "SUMMARY" || r.Body["allLinkedOrgs"] != "TRUE") {
			t.Errorf("export request body %v, want a SUMMARY of all linked orgs", r.Body)
		}
	}
	zips, _ := filepath.Glob(filepath.Join(dir, "summary-*.zip"))
	if len(zips) != 1 {
		t.Fatalf("the recipe wrote %v, want one summary-FROM-TO.zip", zips)
	}
	output := filepath.Join(dir, "ipu.om")
	logs := &syncBuffer{}
	if code := run([]string{
		"backfill", "--zip=" + zips[0], "--from=" + from.Format(time.DateOnly),
		"--to=" + last.Format(time.DateOnly), "--output=" + output,
	}, logs, hooks{}); code != 0 {
		t.Fatalf("backfill --zip of the recipe's ZIP exited %d:\n%s", code, logs)
	}
	om, err := os.ReadFile(output)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(om), "informatica_ipu_day_consumed_ipus{"); n == 0 {
		t.Errorf("backfill wrote no samples from the recipe's ZIP:\n%s", logs)
	}
}
