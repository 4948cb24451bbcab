// Command validate renders the kustomize base deploy/kubernetes and checks
// every object offline: strict decoding into the official Go types of the
// Kubernetes API (k8s.io/api) and of the Prometheus Operator (ServiceMonitor,
// PrometheusRule), which refuses unknown fields, duplicate fields and values
// of the wrong type; the API server's name and label rules; and what this
// project requires of the objects together (non-root, read-only root
// filesystem with emptyDirs for /tmp and --storage.path, probes, resources,
// a password file the user can read, selectors that select). It also checks
// that the PrometheusRule carries exactly mixin/rules.yml and
// mixin/alerts.yml, and runs promtool check rules on it.
//
// It is a module of its own, so that the exporter's module does not depend
// on the Kubernetes libraries. .ci/run runs it:
//
//	cd deploy/kubernetes/validate && go run . -promtool=$(command -v promtool)
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: validate [-base DIR] [-mixin DIR] [-promtool PATH] [-print] | -write-rules\n\n")
		flag.PrintDefaults()
	}
	base := flag.String("base", "..", "the kustomize directory to render and check")
	mixin := flag.String("mixin", "../../../mixin", "the mixin folder, source of the PrometheusRule")
	promtool := flag.String("promtool", "", "promtool, to check the PrometheusRule's rules; empty skips that check")
	writeRules := flag.Bool("write-rules", false, "write the base's prometheusrule.yaml from the mixin, and exit")
	print := flag.Bool("print", false, "print the rendered manifests")
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*base, *mixin, *promtool, *writeRules, *print); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
}

const rulesFile = "prometheusrule.yaml"

func run(base, mixin, promtool string, writeRules, print bool) error {
	generated, err := prometheusRule(mixin)
	if err != nil {
		return err
	}
	ruleManifest := filepath.Join(base, rulesFile)
	if writeRules {
		if err := os.WriteFile(ruleManifest, generated, 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", ruleManifest)
		return nil
	}
	if have, err := os.ReadFile(ruleManifest); err != nil || !bytes.Equal(have, generated) {
		return fmt.Errorf("%s is not what -write-rules makes of %s (%v): run `go run . -write-rules` in deploy/kubernetes/validate", ruleManifest, mixin, err)
	}
	fmt.Printf("ok: %s is generated from %s/{%s}\n", ruleManifest, mixin, strings.Join(ruleFiles, ","))

	rendered, err := render(base)
	if err != nil {
		return err
	}
	if print {
		os.Stdout.Write(rendered)
	}
	objs, err := decode(rendered)
	if err != nil {
		return err
	}
	fmt.Printf("ok: kustomize rendered %d objects; each decodes strictly into its API type\n", objs.count)
	if err := validate(objs, mixin, promtool); err != nil {
		return err
	}
	check := "the groups equal the mixin's"
	if promtool != "" {
		check += "; promtool check rules passes"
	}
	fmt.Printf("ok: names, labels, selectors, ports, probes, security context, resources, volumes, password file readable; PrometheusRule: %s\n", check)
	return nil
}
