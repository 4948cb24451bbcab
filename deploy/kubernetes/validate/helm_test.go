package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
)

// renderValues renders the chart with one of its ci/ values files ("" for
// the defaults) and checks the objects as CI does.
func renderValues(t *testing.T, file string) *objects {
	t.Helper()
	vals := common.Values{}
	if file != "" {
		var err error
		if vals, err = common.ReadValuesFile(filepath.Join(chartDir, "ci", file)); err != nil {
			t.Fatal(err)
		}
	}
	objs, _, err := renderChart(chartDir, vals, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate(objs, mixinDir, ""); err != nil {
		t.Fatal(err)
	}
	return objs
}

// TestChartDefaults: the configuration in a Secret, --storage.path on the
// chart's claim, the Operator's objects, the image of VERSION, HTTP probes.
func TestChartDefaults(t *testing.T) {
	o := renderValues(t, "")
	version, err := os.ReadFile(versionFile)
	if err != nil {
		t.Fatal(err)
	}
	ctr := o.deployments[0].Spec.Template.Spec.Containers[0]
	if want := "ghcr.io/ipumon/informatica_exporter:" + strings.TrimSpace(string(version)); ctr.Image != want {
		t.Errorf("image %s, want %s", ctr.Image, want)
	}
	if len(o.secrets) != 1 || !strings.Contains(o.secrets[0].StringData["config.yml"], "accounts:") || len(o.configMaps) != 0 {
		t.Errorf("want config.yml in the one Secret and no ConfigMap; got %d Secrets, %d ConfigMaps", len(o.secrets), len(o.configMaps))
	}
	if v := storageVolume(t, o); len(o.pvcs) != 1 || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != o.pvcs[0].Name {
		t.Errorf("storage volume %+v, %d claims: want the chart's claim", v, len(o.pvcs))
	}
	if len(o.serviceMonitors) != 1 || len(o.prometheusRules) != 1 {
		t.Errorf("%d ServiceMonitors, %d PrometheusRules; want one each", len(o.serviceMonitors), len(o.prometheusRules))
	}
	if ctr.ReadinessProbe.HTTPGet == nil || ctr.ReadinessProbe.HTTPGet.Path != "/-/ready" {
		t.Errorf("readiness probe %+v, want GET /-/ready", ctr.ReadinessProbe)
	}
}

// TestChartExistingSecret: no config Secret rendered; the pod mounts the
// named one, and the storage is the existing claim.
func TestChartExistingSecret(t *testing.T) {
	o := renderValues(t, "existing-secret-values.yaml")
	if len(o.secrets) != 0 || len(o.pvcs) != 0 {
		t.Errorf("%d Secrets, %d claims rendered; want none", len(o.secrets), len(o.pvcs))
	}
	srcs := volume(t, o, "config").Projected.Sources
	if len(srcs) != 1 || srcs[0].Secret == nil || srcs[0].Secret.Name != "informatica-exporter-config" {
		t.Errorf("config volume sources %+v, want the Secret informatica-exporter-config", srcs)
	}
	if v := storageVolume(t, o); v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "informatica-exporter-data" {
		t.Errorf("storage volume %+v, want the claim informatica-exporter-data", v)
	}
}

// TestChartNoOperator: no object of the Operator's CRDs; scrape
// annotations; the rules as a ConfigMap of the mixin's files; an emptyDir.
func TestChartNoOperator(t *testing.T) {
	o := renderValues(t, "no-operator-values.yaml")
	if len(o.serviceMonitors) != 0 || len(o.prometheusRules) != 0 {
		t.Errorf("%d ServiceMonitors, %d PrometheusRules; want none", len(o.serviceMonitors), len(o.prometheusRules))
	}
	if a := o.services[0].Annotations; a["prometheus.io/scrape"] != "true" || a["prometheus.io/scheme"] != "http" {
		t.Errorf("Service annotations %v", a)
	}
	if len(o.configMaps) != 1 {
		t.Fatalf("%d ConfigMaps, want the rules'", len(o.configMaps))
	}
	for _, name := range ruleFiles {
		want, err := os.ReadFile(filepath.Join(mixinDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if o.configMaps[0].Data[name] != string(want) {
			t.Errorf("%s in the ConfigMap differs from mixin/%s", name, name)
		}
	}
	if v := storageVolume(t, o); v.EmptyDir == nil || len(o.pvcs) != 0 {
		t.Errorf("storage volume %+v, %d claims: want an emptyDir", v, len(o.pvcs))
	}
}

// TestChartBasicAuth: the web configuration from its Secret, TCP probes,
// and the ServiceMonitor's credentials.
func TestChartBasicAuth(t *testing.T) {
	o := renderValues(t, "basic-auth-values.yaml")
	ctr := o.deployments[0].Spec.Template.Spec.Containers[0]
	if !slices.Contains(ctr.Args, "--web.config.file=/etc/informatica_exporter/web-config.yml") {
		t.Errorf("args %v: no --web.config.file", ctr.Args)
	}
	for _, p := range []struct {
		name string
		tcp  bool
	}{{"liveness", ctr.LivenessProbe.TCPSocket != nil}, {"readiness", ctr.ReadinessProbe.TCPSocket != nil}} {
		if !p.tcp {
			t.Errorf("%s probe is not a tcpSocket probe", p.name)
		}
	}
	if b := o.serviceMonitors[0].Spec.Endpoints[0].BasicAuth; b == nil || b.Password.Name != "informatica-exporter-scrape" {
		t.Errorf("ServiceMonitor basicAuth %+v", b)
	}
}

// copyChart copies the chart into a new folder, with edit applied to one
// of its files: old must occur in it.
func copyChart(t *testing.T, file, old, new string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "informatica-exporter")
	if err := os.CopyFS(dir, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not hold %q", file, old)
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(strings.ReplaceAll(string(b), old, new)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestChartRefusals: checkChart fails, saying what, on a chart or a
// repository that has drifted.
func TestChartRefusals(t *testing.T) {
	tmp := t.TempDir()
	otherVersion := filepath.Join(tmp, "VERSION")
	os.WriteFile(otherVersion, []byte("1.0.1\n"), 0o644)
	editedMixin := filepath.Join(tmp, "mixin")
	if err := os.CopyFS(editedMixin, os.DirFS(mixinDir)); err != nil {
		t.Fatal(err)
	}
	alerts, _ := os.ReadFile(filepath.Join(editedMixin, "alerts.yml"))
	os.WriteFile(filepath.Join(editedMixin, "alerts.yml"), []byte(strings.Replace(string(alerts), "for: 15m", "for: 16m", 1)), 0o644)

	for _, c := range []struct {
		name string
		p    func(p paths) paths
		want string
	}{
		{"other VERSION", func(p paths) paths { p.version = otherVersion; return p }, `appVersion "1.0.0" in Chart.yaml, but VERSION says "1.0.1"`},
		{"no VERSION", func(p paths) paths { p.version = filepath.Join(tmp, "none"); return p }, "the chart's appVersion must equal the VERSION file"},
		{"mixin changed, chart not", func(p paths) paths { p.mixin = editedMixin; return p }, "its groups differ from mixin/rules.yml and mixin/alerts.yml"},
		{"lint", func(p paths) paths { p.chart = copyChart(t, "Chart.yaml", "version: 0.1.0", "version: one"); return p }, "helm lint"},
		{"strict decoding", func(p paths) paths {
			p.chart = copyChart(t, "templates/service.yaml", "targetPort: http", "targetport: http")
			return p
		}, `unknown field "spec.ports[0].targetport"`},
		{"HTTP probes with basic auth", func(p paths) paths {
			p.chart = copyChart(t, "templates/deployment.yaml", "{{- if $basicAuth }}", "{{- if false }}")
			return p
		}, "basic-auth-values.yaml: Deployment informatica-exporter container informatica-exporter: livenessProbe must be a tcpSocket probe"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := checkChart(c.p(repoPaths), "", false)
			t.Log(err)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v\nwant an error containing %q", err, c.want)
			}
		})
	}
}
