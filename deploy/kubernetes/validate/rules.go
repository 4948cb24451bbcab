package main

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ruleFiles are the mixin's rule files that the PrometheusRule carries, in
// this order.
var ruleFiles = []string{"rules.yml", "alerts.yml"}

// generated returns the files that -write-rules writes, by path: the base's
// PrometheusRule, and copies of the mixin's rule files where kustomize and
// Helm can read them (neither reads files outside its folder).
func generated(p paths) (map[string][]byte, error) {
	rule, err := prometheusRule(p.mixin)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{filepath.Join(p.base, rulesFile): rule}
	for _, name := range ruleFiles {
		b, err := os.ReadFile(filepath.Join(p.mixin, name))
		if err != nil {
			return nil, err
		}
		files[filepath.Join(p.overlays, "no-operator", name)] = b
		files[filepath.Join(p.chart, "files", name)] = b
	}
	return files, nil
}

// checkGenerated refuses a generated file that is not what -write-rules
// writes.
func checkGenerated(p paths) error {
	files, err := generated(p)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if have, err := os.ReadFile(name); err != nil || !bytes.Equal(have, files[name]) {
			return fmt.Errorf("%s is not what -write-rules makes of %s (%v): run `go run . -write-rules` in deploy/kubernetes/validate", name, p.mixin, err)
		}
	}
	fmt.Printf("ok: %d files are generated from %s/{%s}\n", len(files), p.mixin, strings.Join(ruleFiles, ","))
	return nil
}

// writeGenerated writes the generated files.
func writeGenerated(p paths) error {
	files, err := generated(p)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := os.WriteFile(name, files[name], 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", name)
	}
	return nil
}

const ruleHeader = `# Generated from mixin/rules.yml and mixin/alerts.yml by
#   cd deploy/kubernetes/validate && go run . -write-rules
# Do not edit: edit those files and run that again. CI checks that this file is what the
# command writes, and that the rules in the rendered manifests equal the mixin's.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: informatica-exporter
  labels:
    app.kubernetes.io/name: informatica-exporter
spec:
  groups:
`

// prometheusRule returns the PrometheusRule manifest carrying the rule
// groups of the mixin's files, as text: each file's comments and groups are
// copied line by line, indented under spec.groups, so that the manifest
// reads like the files.
func prometheusRule(mixinDir string) ([]byte, error) {
	var out bytes.Buffer
	out.WriteString(ruleHeader)
	for _, name := range ruleFiles {
		path := filepath.Join(mixinDir, name)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&out, "    # ---- mixin/%s ----\n", name)
		seenGroups := false
		for i, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
			switch {
			case !seenGroups && (line == "" || strings.HasPrefix(line, "#")):
				if line == "" {
					out.WriteString("\n")
				} else {
					out.WriteString("    " + line + "\n")
				}
			case !seenGroups && strings.TrimRight(line, " ") == "groups:":
				seenGroups = true
			case !seenGroups:
				return nil, fmt.Errorf("%s:%d: only comments may come before `groups:`, the file's one top-level key", path, i+1)
			case line == "":
				out.WriteString("\n")
			case line[0] != ' ' && line[0] != '-' && line[0] != '#':
				return nil, fmt.Errorf("%s:%d: a top-level key after `groups:`; the file may hold only groups", path, i+1)
			default:
				out.WriteString("    " + line + "\n")
			}
		}
		if !seenGroups {
			return nil, fmt.Errorf("%s: no `groups:`", path)
		}
	}
	return out.Bytes(), nil
}
