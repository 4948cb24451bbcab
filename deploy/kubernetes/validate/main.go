// Command validate renders the kustomize base deploy/kubernetes and each of
// its overlays (deploy/kubernetes-overlays/*), and checks every object
// offline: strict decoding into the official Go types of the
// Kubernetes API (k8s.io/api) and of the Prometheus Operator (ServiceMonitor,
// PrometheusRule), which refuses unknown fields, duplicate fields and values
// of the wrong type; the API server's name and label rules; and what this
// project requires of the objects together (non-root, read-only root
// filesystem with an emptyDir for /tmp and an emptyDir or a claim for
// --storage.path, probes that basic auth does not refuse, resources, a
// password file the user can read, selectors that select, a ServiceMonitor
// or scrape annotations). It also checks that the PrometheusRule, or the
// ConfigMap that replaces it, carries exactly mixin/rules.yml and
// mixin/alerts.yml, and runs promtool check rules on them.
//
// It is a module of its own, so that the exporter's module does not depend
// on the Kubernetes libraries. .ci/run runs it:
//
//	cd deploy/kubernetes/validate && go run . -promtool=$(command -v promtool)
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

// paths are the folders and files that validate reads.
type paths struct {
	base     string // the kustomize base
	overlays string // a folder of overlays of the base, one a folder
	mixin    string // the mixin, source of the rules
	chart    string // the Helm chart
	version  string // the VERSION file, which the chart's appVersion must equal
}

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: validate [-base DIR] [-overlays DIR] [-mixin DIR] [-chart DIR] [-version FILE] [-promtool PATH] [-print] | -write-rules\n\n")
		flag.PrintDefaults()
	}
	var p paths
	flag.StringVar(&p.base, "base", "..", "the kustomize base to render and check")
	flag.StringVar(&p.overlays, "overlays", "../../kubernetes-overlays", "the folder of the base's overlays, each rendered and checked")
	flag.StringVar(&p.mixin, "mixin", "../../../mixin", "the mixin folder, source of the rules")
	flag.StringVar(&p.chart, "chart", "../../helm/informatica-exporter", "the Helm chart to lint, render and check")
	flag.StringVar(&p.version, "version", "../../../VERSION", "the VERSION file, which the chart's appVersion must equal")
	promtool := flag.String("promtool", "", "promtool, to check the rules; empty skips that check")
	writeRules := flag.Bool("write-rules", false, "write the base's prometheusrule.yaml and the copies of the mixin's rule files, and exit")
	print := flag.Bool("print", false, "print the rendered manifests")
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(p, *promtool, *writeRules, *print); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
}

const rulesFile = "prometheusrule.yaml"

func run(p paths, promtool string, writeRules, print bool) error {
	if writeRules {
		return writeGenerated(p)
	}
	if err := checkGenerated(p); err != nil {
		return err
	}
	dirs, err := kustomizations(p)
	if err != nil {
		return err
	}
	for _, dir := range dirs {
		if err := checkKustomization(dir, p.mixin, promtool, print); err != nil {
			return err
		}
	}
	return checkChart(p, promtool, print)
}

// kustomizations returns the base and its overlays (kustomize refuses an
// overlay inside its base's folder).
func kustomizations(p paths) ([]string, error) {
	overlays, err := filepath.Glob(filepath.Join(p.overlays, "*", "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	dirs := []string{p.base}
	for _, k := range overlays {
		dirs = append(dirs, filepath.Dir(k))
	}
	return dirs, nil
}

// checkKustomization renders dir with kustomize and checks every object.
func checkKustomization(dir, mixin, promtool string, print bool) error {
	rendered, err := render(dir)
	if err != nil {
		return err
	}
	if print {
		os.Stdout.Write(rendered)
	}
	objs, err := decode(rendered)
	if err != nil {
		return fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	if err := validate(objs, mixin, promtool); err != nil {
		return fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	fmt.Printf("ok: kustomize build %s: %s\n", dir, objs.summary(promtool))
	return nil
}

// summary says what was checked, for the log.
func (o *objects) summary(promtool string) string {
	s := fmt.Sprintf("%d objects, each decoded strictly into its API type; names, labels, selectors, ports, probes, "+
		"security context, resources, volumes, files readable; the rules equal the mixin's", o.count)
	if promtool != "" {
		s += "; promtool check rules passes"
	}
	return s
}
