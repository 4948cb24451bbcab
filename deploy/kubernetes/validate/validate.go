package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// render runs kustomize (the library kubectl kustomize is built on) on dir,
// in kubectl kustomize's order.
func render(dir string) ([]byte, error) {
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionLegacy
	k := krusty.MakeKustomizer(opts)
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return out, nil
}

// objects are the rendered manifests, each decoded strictly into its
// official Go type.
type objects struct {
	deployments     []*appsv1.Deployment
	services        []*corev1.Service
	configMaps      []*corev1.ConfigMap
	secrets         []*corev1.Secret
	serviceMonitors []*monitoringv1.ServiceMonitor
	prometheusRules []*monitoringv1.PrometheusRule
	// rawRules are the PrometheusRules as rendered, before decoding.
	rawRules [][]byte
	count    int
}

// decode splits a multi-document YAML stream and decodes every document
// strictly: an unknown field, a duplicate field or a value of the wrong type
// for the API's Go type is an error, as kubectl apply --validate=strict
// would report it.
func decode(stream []byte) (*objects, error) {
	var o objects
	for i, doc := range splitDocuments(stream) {
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		where := fmt.Sprintf("%s %s/%s", meta.APIVersion, meta.Kind, meta.Metadata.Name)
		var obj any
		switch meta.APIVersion + " " + meta.Kind {
		case "apps/v1 Deployment":
			d := &appsv1.Deployment{}
			o.deployments, obj = append(o.deployments, d), d
		case "v1 Service":
			s := &corev1.Service{}
			o.services, obj = append(o.services, s), s
		case "v1 ConfigMap":
			c := &corev1.ConfigMap{}
			o.configMaps, obj = append(o.configMaps, c), c
		case "v1 Secret":
			s := &corev1.Secret{}
			o.secrets, obj = append(o.secrets, s), s
		case "monitoring.coreos.com/v1 ServiceMonitor":
			s := &monitoringv1.ServiceMonitor{}
			o.serviceMonitors, obj = append(o.serviceMonitors, s), s
		case "monitoring.coreos.com/v1 PrometheusRule":
			r := &monitoringv1.PrometheusRule{}
			o.prometheusRules, obj = append(o.prometheusRules, r), r
			o.rawRules = append(o.rawRules, doc)
		default:
			return nil, fmt.Errorf("%s: a kind this validator does not know; add its Go type", where)
		}
		if err := strictDecode(doc, obj); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		o.count++
	}
	return &o, nil
}

// strictDecode decodes a YAML document into obj as the API server's strict
// field validation does (kubectl apply --validate=strict): through JSON,
// with the case-sensitive decoder of apimachinery (sigs.k8s.io/json), every
// unknown or duplicate field an error. encoding/json would match field
// names regardless of case, and so take readOnlyRootFileSystem for
// readOnlyRootFilesystem.
func strictDecode(doc []byte, obj any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strictErrs, err := kjson.UnmarshalStrict(j, obj)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

func splitDocuments(stream []byte) [][]byte {
	var docs [][]byte
	for _, d := range bytes.Split(stream, []byte("\n---\n")) {
		if len(bytes.TrimSpace(d)) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}

// check holds the failures of the semantic checks.
type check struct{ errs []error }

func (c *check) failf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

func (c *check) err() error { return errors.Join(c.errs...) }

// validate checks what strict decoding cannot: names and labels as the API
// server validates them, and that the objects fit together and run the
// exporter as this project requires.
func validate(o *objects, mixinDir, promtool string) error {
	c := &check{}
	c.metadata(o)
	if len(o.deployments) != 1 || len(o.services) != 1 || len(o.configMaps) != 1 || len(o.secrets) != 1 ||
		len(o.serviceMonitors) != 1 || len(o.prometheusRules) != 1 {
		c.failf("want one each of Deployment, Service, ConfigMap, Secret, ServiceMonitor, PrometheusRule; got %d, %d, %d, %d, %d, %d",
			len(o.deployments), len(o.services), len(o.configMaps), len(o.secrets), len(o.serviceMonitors), len(o.prometheusRules))
		return c.err()
	}
	d, svc, sm := o.deployments[0], o.services[0], o.serviceMonitors[0]
	c.deployment(d, o.configMaps[0], o.secrets[0])
	c.service(svc, d)
	c.serviceMonitor(sm, svc)
	c.rules(o.prometheusRules[0], o.rawRules[0], mixinDir, promtool)
	return c.err()
}

func (c *check) metadata(o *objects) {
	var all []struct {
		kind   string
		name   string
		labels map[string]string
	}
	add := func(kind, name string, l map[string]string) {
		all = append(all, struct {
			kind   string
			name   string
			labels map[string]string
		}{kind, name, l})
	}
	for _, x := range o.deployments {
		add("Deployment", x.Name, x.Labels)
		add("Deployment pod template", "", x.Spec.Template.Labels)
	}
	for _, x := range o.services {
		add("Service", x.Name, x.Labels)
	}
	for _, x := range o.configMaps {
		add("ConfigMap", x.Name, x.Labels)
	}
	for _, x := range o.secrets {
		add("Secret", x.Name, x.Labels)
	}
	for _, x := range o.serviceMonitors {
		add("ServiceMonitor", x.Name, x.Labels)
	}
	for _, x := range o.prometheusRules {
		add("PrometheusRule", x.Name, x.Labels)
	}
	for _, x := range all {
		if x.kind != "Deployment pod template" {
			for _, msg := range validation.IsDNS1123Subdomain(x.name) {
				c.failf("%s %q: metadata.name: %s", x.kind, x.name, msg)
			}
		}
		for k, v := range x.labels {
			for _, msg := range validation.IsQualifiedName(k) {
				c.failf("%s %q: label key %q: %s", x.kind, x.name, k, msg)
			}
			for _, msg := range validation.IsValidLabelValue(v) {
				c.failf("%s %q: label %s value %q: %s", x.kind, x.name, k, v, msg)
			}
		}
	}
}

// flagValue returns the value of --name=value in args.
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func (c *check) deployment(d *appsv1.Deployment, cm *corev1.ConfigMap, secret *corev1.Secret) {
	at := "Deployment " + d.Name
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		c.failf("%s: replicas must be 1: every replica runs its own export jobs", at)
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		c.failf("%s: strategy must be Recreate, so that two pods never export at once", at)
	}
	sel, err := metav1LabelSelector(d)
	if err != nil {
		c.failf("%s: spec.selector: %v", at, err)
	} else if !sel.Matches(labels.Set(d.Spec.Template.Labels)) || sel.Empty() {
		c.failf("%s: spec.selector does not select the pod template's labels", at)
	}
	pod := d.Spec.Template.Spec
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		c.failf("%s: the pod must set runAsNonRoot: true and a runAsUser other than 0", at)
		return
	}
	if len(pod.Containers) != 1 {
		c.failf("%s: want one container, got %d", at, len(pod.Containers))
		return
	}
	ctr := pod.Containers[0]
	at += " container " + ctr.Name
	for _, msg := range validation.IsDNS1123Label(ctr.Name) {
		c.failf("%s: name: %s", at, msg)
	}
	if ctr.Image == "" {
		c.failf("%s: no image", at)
	}
	sc := ctr.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		c.failf("%s: readOnlyRootFilesystem must be true", at)
	}
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		c.failf("%s: allowPrivilegeEscalation must be false", at)
	}
	if sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		c.failf("%s: capabilities must drop ALL", at)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := ctr.Resources.Requests[r]; !ok || q.IsZero() {
			c.failf("%s: no %s request", at, r)
		}
	}
	if q, ok := ctr.Resources.Limits[corev1.ResourceMemory]; !ok || q.IsZero() {
		c.failf("%s: no memory limit", at)
	} else if req := ctr.Resources.Requests[corev1.ResourceMemory]; q.Cmp(req) < 0 {
		c.failf("%s: memory limit %s is below the request %s", at, q.String(), req.String())
	}

	// Ports and probes.
	ports := map[string]int32{}
	for _, p := range ctr.Ports {
		for _, msg := range validation.IsValidPortName(p.Name) {
			c.failf("%s: port name %q: %s", at, p.Name, msg)
		}
		ports[p.Name] = p.ContainerPort
	}
	if ports["http"] != 9977 {
		c.failf("%s: want a port named http, 9977 (the image's EXPOSE)", at)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"livenessProbe", ctr.LivenessProbe, "/-/healthy"}, {"readinessProbe", ctr.ReadinessProbe, "/-/ready"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path {
			c.failf("%s: %s must be an HTTP GET of %s", at, p.name, p.path)
			continue
		}
		if port := p.probe.HTTPGet.Port; port.StrVal != "" && ports[port.StrVal] == 0 || port.StrVal == "" && port.IntVal != 9977 {
			c.failf("%s: %s: port %s is not the container's http port", at, p.name, port.String())
		}
	}

	// Volumes: every mount has its volume; /tmp and --storage.path are
	// writable emptyDirs (the root filesystem is read-only).
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range ctr.VolumeMounts {
		if _, ok := volumes[m.Name]; !ok {
			c.failf("%s: volumeMount %s: no volume of that name", at, m.Name)
		}
		mounts[m.MountPath] = m
	}
	writable := func(what, dir string) {
		m, ok := mounts[dir]
		if !ok {
			c.failf("%s: %s %s is not mounted, and the root filesystem is read-only", at, what, dir)
			return
		}
		if v := volumes[m.Name]; v.EmptyDir == nil || m.ReadOnly {
			c.failf("%s: %s %s must be a writable emptyDir", at, what, dir)
		}
	}
	writable("temp dir", "/tmp")
	if storage, ok := flagValue(ctr.Args, "storage.path"); !ok {
		c.failf("%s: no --storage.path", at)
	} else {
		writable("--storage.path", storage)
	}

	// The configuration and the password file: mounted from the ConfigMap
	// and the Secret, where the arguments and config.yml say, readable by
	// the pod's user.
	configFile, ok := flagValue(ctr.Args, "config.file")
	if !ok {
		c.failf("%s: no --config.file", at)
		return
	}
	cfgText, where := c.projected(at, configFile, mounts, volumes, psc, map[string]map[string]string{"ConfigMap " + cm.Name: cm.Data}, cm.Name, "")
	if where == "" {
		return
	}
	var cfg struct {
		Accounts []struct {
			Name         string `json:"name"`
			PasswordFile string `json:"password_file"`
			Password     string `json:"password"`
		} `json:"accounts"`
	}
	if err := yaml.Unmarshal([]byte(cfgText), &cfg); err != nil {
		c.failf("%s: %s: %v", at, configFile, err)
		return
	}
	if len(cfg.Accounts) == 0 {
		c.failf("%s: %s has no accounts", at, configFile)
	}
	secretData := map[string]string{}
	for k, v := range secret.Data {
		secretData[k] = string(v)
	}
	for k, v := range secret.StringData {
		secretData[k] = v
	}
	for _, a := range cfg.Accounts {
		if a.Password != "" {
			c.failf("%s: %s: account %s has its password in the ConfigMap; use password_file and the Secret", at, configFile, a.Name)
			continue
		}
		file := a.PasswordFile
		if !path.IsAbs(file) {
			file = path.Join(path.Dir(configFile), file)
		}
		c.projected(at, file, mounts, volumes, psc, map[string]map[string]string{"Secret " + secret.Name: secretData}, "", secret.Name)
	}
}

// projected checks that file is a key of the ConfigMap (cmName) or Secret
// (secretName) mounted at its folder, readable by the pod's user, and
// returns its content and the object it comes from ("" when it fails).
func (c *check) projected(at, file string, mounts map[string]corev1.VolumeMount, volumes map[string]corev1.Volume,
	psc *corev1.PodSecurityContext, data map[string]map[string]string, cmName, secretName string) (string, string) {
	dir, key := path.Split(file)
	dir = path.Clean(dir)
	m, ok := mounts[dir]
	if !ok {
		c.failf("%s: %s: nothing is mounted at %s", at, file, dir)
		return "", ""
	}
	v := volumes[m.Name]
	var mode *int32
	found := false
	consider := func(name string, items []corev1.KeyToPath, defaultMode *int32, isSecret bool) {
		if found || isSecret && name != secretName || !isSecret && name != cmName {
			return
		}
		if len(items) == 0 {
			found, mode = true, defaultMode
			return
		}
		for _, it := range items {
			if it.Path == key {
				found, key, mode = true, it.Key, defaultMode
				if it.Mode != nil {
					mode = it.Mode
				}
			}
		}
	}
	switch {
	case v.Projected != nil:
		for _, s := range v.Projected.Sources {
			if s.ConfigMap != nil {
				consider(s.ConfigMap.Name, s.ConfigMap.Items, v.Projected.DefaultMode, false)
			}
			if s.Secret != nil {
				consider(s.Secret.Name, s.Secret.Items, v.Projected.DefaultMode, true)
			}
		}
	case v.ConfigMap != nil:
		consider(v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.DefaultMode, false)
	case v.Secret != nil:
		consider(v.Secret.SecretName, v.Secret.Items, v.Secret.DefaultMode, true)
	}
	what := "ConfigMap " + cmName
	if secretName != "" {
		what = "Secret " + secretName
	}
	if !found {
		c.failf("%s: %s: the volume mounted at %s does not project %s", at, file, dir, what)
		return "", ""
	}
	content, ok := data[what][key]
	if !ok {
		c.failf("%s: %s: %s has no key %q", at, file, what, key)
		return "", ""
	}
	perm := int32(0o644) // the API's default mode
	if mode != nil {
		perm = *mode
	}
	// Projected files belong to root, group fsGroup when it is set.
	readable := perm&0o004 != 0 || psc.FSGroup != nil && perm&0o040 != 0
	if !readable {
		c.failf("%s: %s: mode %#o is not readable by user %d (group %v); set fsGroup and a group-readable mode such as 0440",
			at, file, perm, *psc.RunAsUser, psc.FSGroup)
	}
	return content, what
}

func metav1LabelSelector(d *appsv1.Deployment) (labels.Selector, error) {
	if d.Spec.Selector == nil {
		return nil, errors.New("missing")
	}
	return labels.ValidatedSelectorFromSet(d.Spec.Selector.MatchLabels)
}

func (c *check) service(s *corev1.Service, d *appsv1.Deployment) {
	at := "Service " + s.Name
	if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
		c.failf("%s: its selector does not select Deployment %s's pods", at, d.Name)
	}
	ctrPorts := map[string]bool{}
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		ctrPorts[p.Name] = true
	}
	for _, p := range s.Spec.Ports {
		if p.TargetPort.StrVal != "" && !ctrPorts[p.TargetPort.StrVal] {
			c.failf("%s: port %s: targetPort %s is not a container port", at, p.Name, p.TargetPort.StrVal)
		}
	}
}

func (c *check) serviceMonitor(sm *monitoringv1.ServiceMonitor, s *corev1.Service) {
	at := "ServiceMonitor " + sm.Name
	sel, err := labels.ValidatedSelectorFromSet(sm.Spec.Selector.MatchLabels)
	if err != nil || len(sm.Spec.Selector.MatchLabels) == 0 || !sel.Matches(labels.Set(s.Labels)) {
		c.failf("%s: its selector does not select Service %s (labels %v)", at, s.Name, s.Labels)
	}
	svcPorts := map[string]bool{}
	for _, p := range s.Spec.Ports {
		svcPorts[p.Name] = true
	}
	if len(sm.Spec.Endpoints) == 0 {
		c.failf("%s: no endpoints", at)
	}
	for _, e := range sm.Spec.Endpoints {
		if !svcPorts[e.Port] {
			c.failf("%s: endpoint port %q is not a port of Service %s", at, e.Port, s.Name)
		}
		if e.Path != "/metrics" {
			c.failf("%s: endpoint path %q, want /metrics", at, e.Path)
		}
	}
}

// rules checks that the PrometheusRule carries exactly the mixin's rule
// groups, and runs promtool check rules on them.
func (c *check) rules(r *monitoringv1.PrometheusRule, raw []byte, mixinDir, promtool string) {
	at := "PrometheusRule " + r.Name
	var want []any
	for _, name := range ruleFiles {
		b, err := os.ReadFile(filepath.Join(mixinDir, name))
		if err != nil {
			c.failf("%s: %v", at, err)
			return
		}
		var f struct {
			Groups []any `json:"groups"`
		}
		if err := yaml.UnmarshalStrict(b, &f); err != nil {
			c.failf("%s: mixin/%s: %v", at, name, err)
			return
		}
		want = append(want, f.Groups...)
	}
	// Compared as rendered, as plain YAML data: a field that the Go types
	// would drop still counts.
	var got struct {
		Spec struct {
			Groups []any `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &got); err != nil {
		c.failf("%s: %v", at, err)
		return
	}
	if len(want) == 0 || !reflect.DeepEqual(got.Spec.Groups, want) {
		c.failf("%s: its groups differ from mixin/rules.yml and mixin/alerts.yml: run `go run . -write-rules` in deploy/kubernetes/validate", at)
	}
	if promtool == "" {
		return
	}
	rules, err := yaml.Marshal(map[string]any{"groups": got.Spec.Groups})
	if err != nil {
		c.failf("%s: %v", at, err)
		return
	}
	file := filepath.Join(os.TempDir(), fmt.Sprintf("informatica-prometheusrule-%d.yml", os.Getpid()))
	defer os.Remove(file)
	if err := os.WriteFile(file, rules, 0o600); err != nil {
		c.failf("%s: %v", at, err)
		return
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		c.failf("%s: promtool check rules on its groups: %v\n%s", at, err, out)
	}
}
