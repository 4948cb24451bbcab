package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const (
	baseDir     = ".."
	overlaysDir = "../../kubernetes-overlays"
	mixinDir    = "../../../mixin"
	chartDir    = "../../helm/informatica-exporter"
	versionFile = "../../../VERSION"
)

var repoPaths = paths{base: baseDir, overlays: overlaysDir, mixin: mixinDir, chart: chartDir, version: versionFile}

func promtool(t *testing.T) string {
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed, and CI must run every check (Debian package prometheus)")
		}
		t.Log("SKIPPED: promtool check rules on the PrometheusRule: promtool is not installed")
		return ""
	}
	return p
}

// TestBase runs what CI runs: the base, the overlays and the chart.
func TestBase(t *testing.T) {
	if err := run(repoPaths, promtool(t), false, false); err != nil {
		t.Fatal(err)
	}
}

// copyBase copies the base's files into a new folder, with edit applied to
// one of them: old must occur in it.
func copyBase(t *testing.T, file, old, new string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(baseDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(baseDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == file {
			if !strings.Contains(string(b), old) {
				t.Fatalf("%s does not hold %q", file, old)
			}
			b = []byte(strings.Replace(string(b), old, new, 1))
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestRefusals: each edit breaks the base in a way the validator must
// report, with an error that says what.
func TestRefusals(t *testing.T) {
	for _, c := range []struct {
		name, file, old, new, want string
	}{
		{"unknown field", "deployment.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true",
			`unknown field "spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem"`},
		{"wrong type", "deployment.yaml", "containerPort: 9977", `containerPort: "9977"`, "cannot unmarshal string into Go struct field ContainerPort.spec.template.spec.containers.ports.containerPort of type int32"},
		{"bad quantity", "deployment.yaml", "memory: 256Mi", "memory: 256MB-ish", "quantities must match the regular expression"},
		{"unknown field in a ServiceMonitor", "servicemonitor.yaml", "interval: 1m", "intervall: 1m", `unknown field "spec.endpoints[0].intervall"`},
		{"duplicate field", "service.yaml", "  selector:\n", "  type: ClusterIP\n  type: NodePort\n  selector:\n", `mapping key "type" already defined`},
		{"bad name", "service.yaml", "  name: informatica-exporter\n", "  name: Informatica_Exporter\n", "metadata.name: a lowercase RFC 1123 subdomain"},
		{"root filesystem writable", "deployment.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem must be true"},
		{"root user", "deployment.yaml", "runAsUser: 65532", "runAsUser: 0", "runAsUser other than 0"},
		{"two replicas", "deployment.yaml", "replicas: 1", "replicas: 2", "replicas must be 1"},
		{"rolling update", "deployment.yaml", "type: Recreate", "type: RollingUpdate", "strategy must be Recreate"},
		{"no memory limit", "deployment.yaml", "            limits:\n              memory: 256Mi\n", "", "no memory limit"},
		{"readiness path", "deployment.yaml", "path: /-/ready", "path: /ready", "readinessProbe must be an HTTP GET of /-/ready"},
		{"liveness port", "deployment.yaml", "path: /-/healthy\n              port: http", "path: /-/healthy\n              port: metrics", "livenessProbe: port metrics is not the container's http port"},
		{"no tmp", "deployment.yaml", "mountPath: /tmp", "mountPath: /scratch", "temp dir /tmp is not mounted"},
		{"storage not mounted", "deployment.yaml", "--storage.path=/var/lib/informatica_exporter", "--storage.path=/data", "--storage.path /data is not mounted"},
		{"password unreadable (0400)", "deployment.yaml", "defaultMode: 288", "defaultMode: 256", "mode 0400 is not readable by user 65532"},
		{"password unreadable (no fsGroup)", "deployment.yaml", "        fsGroup: 65532\n", "", "mode 0440 is not readable by user 65532"},
		{"password file elsewhere", "config.yml", "password_file: /etc/informatica_exporter/password", "password_file: /run/secrets/password", "nothing is mounted at /run/secrets"},
		{"password key missing", "config.yml", "password_file: /etc/informatica_exporter/password", "password_file: /etc/informatica_exporter/passwd", `has the key "passwd"`},
		{"password in the ConfigMap", "config.yml", "password_file: /etc/informatica_exporter/password", "password: hunter2", "has its password in ConfigMap informatica-exporter-config"},
		{"config not mounted", "deployment.yaml", "--config.file=/etc/informatica_exporter/config.yml", "--config.file=/config/config.yml", "nothing is mounted at /config"},
		{"service selects nothing", "service.yaml", "  selector:\n    app.kubernetes.io/name: informatica-exporter", "  selector:\n    app.kubernetes.io/name: other", "does not select Deployment"},
		{"service target port", "service.yaml", "targetPort: http", "targetPort: metrics", "targetPort metrics is not a container port"},
		{"service monitor selects nothing", "servicemonitor.yaml", "      app.kubernetes.io/name: informatica-exporter", "      app.kubernetes.io/name: other", "does not select Service"},
		{"service monitor port", "servicemonitor.yaml", "- port: http", "- port: web", `endpoint port "web" is not a port`},
		{"edited rule", "prometheusrule.yaml", "for: 15m", "for: 16m", "its groups differ from mixin/rules.yml and mixin/alerts.yml"},
		{"unknown kind", "kustomization.yaml", "  - prometheusrule.yaml\n", "  - prometheusrule.yaml\n  - extra.yaml\n", "a kind this validator does not know"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := copyBase(t, c.file, c.old, c.new)
			os.WriteFile(filepath.Join(dir, "extra.yaml"), []byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n"), 0o644)
			rendered, err := render(dir)
			var objs *objects
			if err == nil {
				objs, err = decode(rendered)
			}
			if err == nil {
				err = validate(objs, mixinDir, "")
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v\nwant an error containing %q", err, c.want)
			}
		})
	}
}

// TestGeneratedRulesUpToDate: run refuses a prometheusrule.yaml that is not
// what -write-rules makes of the mixin.
func TestGeneratedRulesUpToDate(t *testing.T) {
	dir := copyBase(t, "prometheusrule.yaml", "  groups:\n", "  groups: # edited\n")
	err := checkGenerated(paths{base: dir, overlays: overlaysDir, mixin: mixinDir, chart: chartDir})
	if err == nil || !strings.Contains(err.Error(), "is not what -write-rules makes of") {
		t.Errorf("run = %v, want a refusal of the edited prometheusrule.yaml", err)
	}
}

// TestREADMEOverlay renders and checks the overlay of docs/deploy.md's
// "Kubernetes" section, with its files made as the page says.
func TestREADMEOverlay(t *testing.T) {
	readme := readDocs(t)
	m := regexp.MustCompile("(?s)```yaml\n(# my-overlay/kustomization.yaml\n.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no ```yaml block starting with # my-overlay/kustomization.yaml")
	}
	kustomization := string(m[1])
	const baseRef = "../informatica_exporter/deploy/kubernetes"
	if !strings.Contains(kustomization, baseRef) {
		t.Fatalf("the README's overlay does not use %s", baseRef)
	}
	// The page's layout: the overlay beside the clone.
	root := t.TempDir()
	if err := os.Symlink(mustAbs(t, "../../.."), filepath.Join(root, "informatica_exporter")); err != nil {
		t.Fatal(err)
	}
	overlay := filepath.Join(root, "my-overlay")
	os.Mkdir(overlay, 0o755)
	files := map[string]string{
		"kustomization.yaml": kustomization,
		"config.yml":         "accounts:\n  - name: prod\n    login_url: https://dm-em.informaticacloud.com\n    username: u@example.com\n    password_file: /etc/informatica_exporter/password\n",
		"password":           "s3cret\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(overlay, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rendered, err := render(overlay)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decode(rendered)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate(objs, mixinDir, ""); err != nil {
		t.Fatal(err)
	}
	d := objs.deployments[0]
	if d.Namespace != "monitoring" || !strings.HasPrefix(d.Spec.Template.Spec.Containers[0].Image, "registry.example.com/informatica_exporter:") {
		t.Errorf("the overlay's namespace and image did not apply: %s %s", d.Namespace, d.Spec.Template.Spec.Containers[0].Image)
	}
	if got := string(objs.secrets[0].Data["password"]); got != "s3cret\n" {
		t.Errorf("the overlay's password did not replace the placeholder: %q", got)
	}
	if !strings.Contains(objs.configMaps[0].Data["config.yml"], "dm-em") {
		t.Errorf("the overlay's config.yml did not replace the base's")
	}
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// renderChecked renders a kustomization and checks it as CI does.
func renderChecked(t *testing.T, dir string) *objects {
	t.Helper()
	rendered, err := render(dir)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decode(rendered)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate(objs, mixinDir, ""); err != nil {
		t.Fatal(err)
	}
	return objs
}

// storageVolume returns the volume that --storage.path is mounted from.
func storageVolume(t *testing.T, o *objects) corev1.Volume {
	t.Helper()
	ctr := o.deployments[0].Spec.Template.Spec.Containers[0]
	dir, _ := flagValue(ctr.Args, "storage.path")
	for _, m := range ctr.VolumeMounts {
		if m.MountPath == dir {
			for _, v := range o.deployments[0].Spec.Template.Spec.Volumes {
				if v.Name == m.Name {
					return v
				}
			}
		}
	}
	t.Fatalf("no volume at --storage.path %s", dir)
	return corev1.Volume{}
}

// volume returns the Deployment's volume of that name, to edit.
func volume(t *testing.T, o *objects, name string) *corev1.Volume {
	t.Helper()
	vols := o.deployments[0].Spec.Template.Spec.Volumes
	i := slices.IndexFunc(vols, func(v corev1.Volume) bool { return v.Name == name })
	if i < 0 {
		t.Fatalf("no volume %s", name)
	}
	return &vols[i]
}

// TestPersistentOverlay: --storage.path is on the overlay's
// ReadWriteOnce claim, with nothing else of the base changed.
func TestPersistentOverlay(t *testing.T) {
	o := renderChecked(t, filepath.Join(overlaysDir, "persistent"))
	v := storageVolume(t, o)
	if v.EmptyDir != nil || v.PersistentVolumeClaim == nil || len(o.pvcs) != 1 || v.PersistentVolumeClaim.ClaimName != o.pvcs[0].Name {
		t.Fatalf("storage volume %+v, claims %d: want only the overlay's claim", v, len(o.pvcs))
	}
	if got := o.pvcs[0].Spec.AccessModes; !slices.Equal(got, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}) {
		t.Errorf("access modes %v, want ReadWriteOnce", got)
	}
	if len(o.serviceMonitors) != 1 || len(o.prometheusRules) != 1 {
		t.Errorf("the overlay lost the ServiceMonitor or the PrometheusRule")
	}
}

// TestNoOperatorOverlay: no object of the Operator's CRDs; the Service is
// annotated for kubernetes_sd, and the rules come as a ConfigMap whose
// files are the mixin's, byte for byte.
func TestNoOperatorOverlay(t *testing.T) {
	o := renderChecked(t, filepath.Join(overlaysDir, "no-operator"))
	if len(o.serviceMonitors) != 0 || len(o.prometheusRules) != 0 {
		t.Fatalf("%d ServiceMonitors and %d PrometheusRules, want none", len(o.serviceMonitors), len(o.prometheusRules))
	}
	if v := storageVolume(t, o); v.PersistentVolumeClaim == nil {
		t.Errorf("storage volume %+v: want the persistent overlay's claim", v)
	}
	if a := o.services[0].Annotations; a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != "9977" {
		t.Errorf("Service annotations %v", a)
	}
	var rules *corev1.ConfigMap
	for _, cm := range o.configMaps {
		if cm.Name == "informatica-exporter-rules" {
			rules = cm
		}
	}
	if rules == nil {
		t.Fatal("no ConfigMap informatica-exporter-rules (a fixed name, for Prometheus' volume)")
	}
	for _, name := range ruleFiles {
		want, err := os.ReadFile(filepath.Join(mixinDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if rules.Data[name] != string(want) {
			t.Errorf("%s in the ConfigMap differs from mixin/%s", name, name)
		}
	}
}

// TestVariantRefusals: changes to rendered overlays that the validator
// must refuse, and the basic-auth variant it must accept.
func TestVariantRefusals(t *testing.T) {
	webConfig := func(o *objects, content string) {
		d := o.deployments[0]
		ctr := &d.Spec.Template.Spec.Containers[0]
		ctr.Args = append(ctr.Args, "--web.config.file=/etc/informatica_exporter/web-config.yml")
		o.secrets = append(o.secrets, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			StringData: map[string]string{"web-config.yml": content},
		})
		vol := volume(t, o, "config").Projected
		vol.Sources = append(vol.Sources, corev1.VolumeProjection{Secret: &corev1.SecretProjection{
			LocalObjectReference: corev1.LocalObjectReference{Name: "web"}}})
	}
	tcpProbes := func(o *objects) {
		ctr := &o.deployments[0].Spec.Template.Spec.Containers[0]
		for _, p := range []*corev1.Probe{ctr.LivenessProbe, ctr.ReadinessProbe} {
			p.HTTPGet, p.TCPSocket = nil, &corev1.TCPSocketAction{Port: intstr.FromString("http")}
		}
	}
	const users = "basic_auth_users:\n  prometheus: $2y$10$abc\n"
	for _, c := range []struct {
		name, overlay string
		edit          func(o *objects)
		want          string // "" accepts
	}{
		{"storage on a hostPath", "persistent", func(o *objects) {
			v := volume(t, o, "storage")
			v.PersistentVolumeClaim, v.HostPath = nil, &corev1.HostPathVolumeSource{Path: "/data"}
		}, "must be an emptyDir or a PersistentVolumeClaim"},
		{"claim without size", "persistent", func(o *objects) { o.pvcs[0].Spec.Resources.Requests = nil }, "no storage request"},
		{"no scrape annotation", "no-operator", func(o *objects) { delete(o.services[0].Annotations, "prometheus.io/scrape") },
			`prometheus.io/scrape is "", want "true"`},
		{"edited rule file", "no-operator", func(o *objects) {
			for _, cm := range o.configMaps {
				if cm.Data["alerts.yml"] != "" {
					cm.Data["alerts.yml"] = strings.Replace(cm.Data["alerts.yml"], "for: 15m", "for: 16m", 1)
				}
			}
		}, "alerts.yml differs from mixin/alerts.yml"},
		{"rules twice", "persistent", func(o *objects) {
			o.configMaps = append(o.configMaps, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "r"}, Data: map[string]string{"rules.yml": ""}})
		}, "want the mixin's rules once"},
		{"basic auth, HTTP probes", "persistent", func(o *objects) { webConfig(o, users) },
			"livenessProbe must be a tcpSocket probe of the http port: with basic_auth_users"},
		{"basic auth, TCP probes, no scrape credentials", "persistent", func(o *objects) { webConfig(o, users); tcpProbes(o) },
			"the endpoint has no basicAuth from a Secret"},
		{"basic auth, TCP probes, scrape credentials", "persistent", func(o *objects) {
			webConfig(o, users)
			tcpProbes(o)
			ref := corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "scrape"}, Key: "password"}
			o.serviceMonitors[0].Spec.Endpoints[0].BasicAuth = &monitoringv1.BasicAuth{Username: ref, Password: ref}
		}, ""},
		{"web config in a ConfigMap", "persistent", func(o *objects) {
			webConfig(o, users)
			o.secrets = o.secrets[:len(o.secrets)-1]
			o.configMaps[0].Data["web-config.yml"] = users
		}, "it holds credentials: use a Secret"},
		{"TLS, HTTP probes", "persistent", func(o *objects) { webConfig(o, "tls_server_config:\n  cert_file: c\n  key_file: k\n") },
			`livenessProbe: scheme "", but tls_server_config in --web.config.file is true`},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := renderChecked(t, filepath.Join(overlaysDir, c.overlay))
			c.edit(o)
			err := validate(o, mixinDir, "")
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Errorf("got %v\nwant an error containing %q", err, c.want)
			}
		})
	}
}

// TestBasicAuthOverlay: the web configuration from its generated Secret,
// TCP probes, and the ServiceMonitor's credentials; with the base's HTTP
// probes back, the validator refuses it.
func TestBasicAuthOverlay(t *testing.T) {
	o := renderChecked(t, filepath.Join(overlaysDir, "basic-auth"))
	ctr := &o.deployments[0].Spec.Template.Spec.Containers[0]
	if !slices.Contains(ctr.Args, "--web.config.file=/etc/informatica_exporter/web-config.yml") {
		t.Errorf("args %v: no --web.config.file", ctr.Args)
	}
	if ctr.LivenessProbe.TCPSocket == nil || ctr.ReadinessProbe.TCPSocket == nil {
		t.Errorf("probes %+v, %+v: want tcpSocket", ctr.LivenessProbe, ctr.ReadinessProbe)
	}
	if b := o.serviceMonitors[0].Spec.Endpoints[0].BasicAuth; b == nil || b.Password.Name != "informatica-exporter-scrape" {
		t.Errorf("ServiceMonitor basicAuth %+v", b)
	}
	ctr.ReadinessProbe.TCPSocket = nil
	ctr.ReadinessProbe.HTTPGet = &corev1.HTTPGetAction{Path: "/-/ready", Port: intstr.FromString("http")}
	if err := validate(o, mixinDir, ""); err == nil || !strings.Contains(err.Error(), "readinessProbe must be a tcpSocket probe") {
		t.Errorf("with an HTTP readiness probe: got %v, want a refusal", err)
	}
}
