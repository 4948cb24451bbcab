package main

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
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
	"k8s.io/apimachinery/pkg/util/intstr"
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
	pvcs            []*corev1.PersistentVolumeClaim
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
		case "v1 PersistentVolumeClaim":
			p := &corev1.PersistentVolumeClaim{}
			o.pvcs, obj = append(o.pvcs, p), p
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
// exporter as this project requires. It accepts each variant that the
// overlays and the Helm chart make: the configuration in a ConfigMap or a
// Secret (rendered, or an existing one), --storage.path on an emptyDir or a
// PersistentVolumeClaim, scraped through a ServiceMonitor or the Service's
// prometheus.io annotations, the mixin's rules in a PrometheusRule or a
// ConfigMap, and basic auth on or off.
func validate(o *objects, mixinDir, promtool string) error {
	c := &check{}
	c.metadata(o)
	if len(o.deployments) != 1 || len(o.services) != 1 || len(o.serviceMonitors) > 1 || len(o.prometheusRules) > 1 {
		c.failf("want one Deployment and one Service, at most one ServiceMonitor and one PrometheusRule; got %d, %d, %d, %d",
			len(o.deployments), len(o.services), len(o.serviceMonitors), len(o.prometheusRules))
		return c.err()
	}
	d, svc := o.deployments[0], o.services[0]
	web := c.deployment(d, o)
	c.service(svc, d)
	if len(o.serviceMonitors) == 1 {
		c.serviceMonitor(o.serviceMonitors[0], svc, web)
	} else {
		c.scrapeAnnotations(svc, d, web)
	}
	var ruleMaps []*corev1.ConfigMap
	for _, cm := range o.configMaps {
		if _, ok := cm.Data[ruleFiles[0]]; ok {
			ruleMaps = append(ruleMaps, cm)
		}
	}
	switch {
	case len(o.prometheusRules)+len(ruleMaps) != 1:
		c.failf("want the mixin's rules once, as a PrometheusRule or a ConfigMap with %s; got %d PrometheusRules and %d such ConfigMaps",
			strings.Join(ruleFiles, " and "), len(o.prometheusRules), len(ruleMaps))
	case len(ruleMaps) == 1:
		c.ruleConfigMap(ruleMaps[0], mixinDir, promtool)
	default:
		c.rules(o.prometheusRules[0], o.rawRules[0], mixinDir, promtool)
	}
	return c.err()
}

func (c *check) metadata(o *objects) {
	type meta struct {
		kind   string
		name   string
		labels map[string]string
	}
	var all []meta
	for _, x := range o.deployments {
		all = append(all, meta{"Deployment", x.Name, x.Labels}, meta{"Deployment pod template", "", x.Spec.Template.Labels})
	}
	for _, x := range o.services {
		all = append(all, meta{"Service", x.Name, x.Labels})
	}
	for _, x := range o.configMaps {
		all = append(all, meta{"ConfigMap", x.Name, x.Labels})
	}
	for _, x := range o.secrets {
		all = append(all, meta{"Secret", x.Name, x.Labels})
	}
	for _, x := range o.pvcs {
		all = append(all, meta{"PersistentVolumeClaim", x.Name, x.Labels})
	}
	for _, x := range o.serviceMonitors {
		all = append(all, meta{"ServiceMonitor", x.Name, x.Labels})
	}
	for _, x := range o.prometheusRules {
		all = append(all, meta{"PrometheusRule", x.Name, x.Labels})
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

// webSettings is what the exporter's --web.config.file asks of its
// clients, as far as the probes and the scrapes are concerned.
type webSettings struct {
	basicAuth bool
	tls       bool
}

// deployment checks the Deployment against the other objects, and returns
// what its web configuration asks of clients.
func (c *check) deployment(d *appsv1.Deployment, o *objects) webSettings {
	var web webSettings
	at := "Deployment " + d.Name
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		c.failf("%s: replicas must be 1: every replica runs its own export jobs", at)
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		c.failf("%s: strategy must be Recreate, so that two pods never export at once (and a ReadWriteOnce volume is released before the new pod mounts it)", at)
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
		return web
	}
	if len(pod.Containers) != 1 {
		c.failf("%s: want one container, got %d", at, len(pod.Containers))
		return web
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

	// Volumes: every mount has its volume; /tmp and --storage.path are
	// writable (the root filesystem is read-only).
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
	writable := func(what, dir string, claimOK bool) {
		m, ok := mounts[dir]
		if !ok {
			c.failf("%s: %s %s is not mounted, and the root filesystem is read-only", at, what, dir)
			return
		}
		v := volumes[m.Name]
		switch {
		case m.ReadOnly:
			c.failf("%s: %s %s is mounted read-only", at, what, dir)
		case v.EmptyDir != nil:
		case v.PersistentVolumeClaim != nil && claimOK:
			c.claim(at, v.PersistentVolumeClaim, o)
		case claimOK:
			c.failf("%s: %s %s must be an emptyDir or a PersistentVolumeClaim", at, what, dir)
		default:
			c.failf("%s: %s %s must be a writable emptyDir", at, what, dir)
		}
	}
	writable("temp dir", "/tmp", false)
	if storage, ok := flagValue(ctr.Args, "storage.path"); !ok {
		c.failf("%s: no --storage.path", at)
	} else {
		writable("--storage.path", storage, true)
	}
	files := &mountedFiles{at: at, mounts: mounts, volumes: volumes, psc: psc, objs: o, c: c}

	// The web configuration (exporter-toolkit's --web.config.file), from a
	// Secret: with basic auth on, an HTTP probe gets 401.
	if file, ok := flagValue(ctr.Args, "web.config.file"); ok {
		if text, src, found := files.get(file); found && src.kind != "Secret" {
			c.failf("%s: %s comes from %s %s; it holds credentials: use a Secret", at, file, src.kind, src.name)
		} else if found && src.known {
			var wc struct {
				TLS   map[string]any    `json:"tls_server_config"`
				Users map[string]string `json:"basic_auth_users"`
			}
			if err := yaml.Unmarshal([]byte(text), &wc); err != nil {
				c.failf("%s: %s: %v", at, file, err)
			}
			web = webSettings{basicAuth: len(wc.Users) > 0, tls: len(wc.TLS) > 0}
		} else if found {
			c.failf("%s: %s comes from Secret %s, which is not among the objects: this validator must see the web configuration to check the probes", at, file, src.name)
		}
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
	isHTTPPort := func(port intstr.IntOrString) bool {
		return port.StrVal != "" && ports[port.StrVal] == 9977 || port.StrVal == "" && port.IntVal == 9977
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"livenessProbe", ctr.LivenessProbe, "/-/healthy"}, {"readinessProbe", ctr.ReadinessProbe, "/-/ready"}} {
		switch {
		case p.probe == nil:
			c.failf("%s: no %s", at, p.name)
		case web.basicAuth:
			// exporter-toolkit asks every path for the password, and a probe's
			// httpGet.httpHeaders can only hold it in clear text in the pod spec.
			if p.probe.TCPSocket == nil || !isHTTPPort(p.probe.TCPSocket.Port) {
				c.failf("%s: %s must be a tcpSocket probe of the http port: with basic_auth_users in --web.config.file an HTTP probe gets 401", at, p.name)
			}
		case p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path:
			c.failf("%s: %s must be an HTTP GET of %s", at, p.name, p.path)
		case !isHTTPPort(p.probe.HTTPGet.Port):
			c.failf("%s: %s: port %s is not the container's http port", at, p.name, p.probe.HTTPGet.Port.String())
		case web.tls != (p.probe.HTTPGet.Scheme == corev1.URISchemeHTTPS):
			c.failf("%s: %s: scheme %q, but tls_server_config in --web.config.file is %v", at, p.name, p.probe.HTTPGet.Scheme, web.tls)
		}
	}

	// The configuration and the password files: mounted where the
	// arguments and config.yml say, readable by the pod's user.
	configFile, ok := flagValue(ctr.Args, "config.file")
	if !ok {
		c.failf("%s: no --config.file", at)
		return web
	}
	cfgText, cfgSrc, found := files.get(configFile)
	if !found || !cfgSrc.known {
		// Not found: reported. Not known: an existing Secret, checked when it is mounted.
		return web
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
		return web
	}
	if len(cfg.Accounts) == 0 {
		c.failf("%s: %s has no accounts", at, configFile)
	}
	for _, a := range cfg.Accounts {
		if a.Password != "" {
			if cfgSrc.kind != "Secret" {
				c.failf("%s: %s: account %s has its password in %s %s; use password_file and a Secret", at, configFile, a.Name, cfgSrc.kind, cfgSrc.name)
			}
			continue
		}
		file := a.PasswordFile
		if !path.IsAbs(file) {
			file = path.Join(path.Dir(configFile), file)
		}
		if _, src, found := files.get(file); found && src.kind != "Secret" {
			c.failf("%s: %s: account %s's password file comes from %s %s; use a Secret", at, configFile, a.Name, src.kind, src.name)
		}
	}
	return web
}

// claim checks the PersistentVolumeClaim of --storage.path, when rendered.
func (c *check) claim(at string, v *corev1.PersistentVolumeClaimVolumeSource, o *objects) {
	if v.ReadOnly {
		c.failf("%s: the claim %s of --storage.path is mounted read-only", at, v.ClaimName)
	}
	for _, p := range o.pvcs {
		if p.Name != v.ClaimName {
			continue
		}
		if len(p.Spec.AccessModes) == 0 {
			c.failf("PersistentVolumeClaim %s: no accessModes", p.Name)
		}
		if q, ok := p.Spec.Resources.Requests[corev1.ResourceStorage]; !ok || q.IsZero() {
			c.failf("PersistentVolumeClaim %s: no storage request", p.Name)
		}
		return
	}
	// An existing claim, made outside these objects.
}

// mountedFiles finds the files that the container reads in the ConfigMaps
// and Secrets projected into its volumes.
type mountedFiles struct {
	at      string
	mounts  map[string]corev1.VolumeMount
	volumes map[string]corev1.Volume
	psc     *corev1.PodSecurityContext
	objs    *objects
	c       *check
}

// fileSource is the ConfigMap or Secret key that a file comes from; known
// is false for an object that is not among the rendered ones (an existing
// Secret).
type fileSource struct {
	kind, name, key string
	known           bool
}

// data returns the keys of the rendered ConfigMap or Secret.
func (o *objects) data(kind, name string) (map[string]string, bool) {
	switch kind {
	case "ConfigMap":
		for _, cm := range o.configMaps {
			if cm.Name == name {
				return cm.Data, true
			}
		}
	case "Secret":
		for _, s := range o.secrets {
			if s.Name == name {
				d := map[string]string{}
				for k, v := range s.Data {
					d[k] = string(v)
				}
				maps.Copy(d, s.StringData)
				return d, true
			}
		}
	}
	return nil, false
}

// get returns the content of file and where it comes from, and reports
// (found false) a file that no mounted volume provides or that its user
// cannot read.
func (f *mountedFiles) get(file string) (string, fileSource, bool) {
	c, at := f.c, f.at
	dir, key := path.Split(file)
	dir = path.Clean(dir)
	m, ok := f.mounts[dir]
	if !ok {
		c.failf("%s: %s: nothing is mounted at %s", at, file, dir)
		return "", fileSource{}, false
	}
	type source struct {
		kind, name  string
		items       []corev1.KeyToPath
		defaultMode *int32
	}
	var sources []source
	v := f.volumes[m.Name]
	switch {
	case v.Projected != nil:
		for _, s := range v.Projected.Sources {
			if s.ConfigMap != nil {
				sources = append(sources, source{"ConfigMap", s.ConfigMap.Name, s.ConfigMap.Items, v.Projected.DefaultMode})
			}
			if s.Secret != nil {
				sources = append(sources, source{"Secret", s.Secret.Name, s.Secret.Items, v.Projected.DefaultMode})
			}
		}
	case v.ConfigMap != nil:
		sources = append(sources, source{"ConfigMap", v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.DefaultMode})
	case v.Secret != nil:
		sources = append(sources, source{"Secret", v.Secret.SecretName, v.Secret.Items, v.Secret.DefaultMode})
	}
	// Rendered objects first: an existing Secret without items could hold
	// any key.
	slices.SortStableFunc(sources, func(a, b source) int {
		_, ak := f.objs.data(a.kind, a.name)
		_, bk := f.objs.data(b.kind, b.name)
		switch {
		case ak && !bk:
			return -1
		case bk && !ak:
			return 1
		}
		return 0
	})
	for _, s := range sources {
		srcKey, mode := key, s.defaultMode
		if len(s.items) > 0 {
			i := slices.IndexFunc(s.items, func(it corev1.KeyToPath) bool { return it.Path == key })
			if i < 0 {
				continue
			}
			srcKey = s.items[i].Key
			if s.items[i].Mode != nil {
				mode = s.items[i].Mode
			}
		}
		data, known := f.objs.data(s.kind, s.name)
		content, has := data[srcKey]
		if known && !has {
			if len(s.items) > 0 {
				c.failf("%s: %s: %s %s has no key %q", at, file, s.kind, s.name, srcKey)
				return "", fileSource{}, false
			}
			continue
		}
		perm := int32(0o644) // the API's default mode
		if mode != nil {
			perm = *mode
		}
		// Projected files belong to root, group fsGroup when it is set.
		if !(perm&0o004 != 0 || f.psc.FSGroup != nil && perm&0o040 != 0) {
			c.failf("%s: %s: mode %#o is not readable by user %d (group %v); set fsGroup and a group-readable mode such as 0440",
				at, file, perm, *f.psc.RunAsUser, f.psc.FSGroup)
			return "", fileSource{}, false
		}
		return content, fileSource{s.kind, s.name, srcKey, known}, true
	}
	c.failf("%s: %s: no ConfigMap or Secret projected at %s has the key %q", at, file, dir, key)
	return "", fileSource{}, false
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
	for _, ctr := range d.Spec.Template.Spec.Containers {
		for _, p := range ctr.Ports {
			ctrPorts[p.Name] = true
		}
	}
	for _, p := range s.Spec.Ports {
		if p.TargetPort.StrVal != "" && !ctrPorts[p.TargetPort.StrVal] {
			c.failf("%s: port %s: targetPort %s is not a container port", at, p.Name, p.TargetPort.StrVal)
		}
	}
}

func (c *check) serviceMonitor(sm *monitoringv1.ServiceMonitor, s *corev1.Service, web webSettings) {
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
		if b := e.BasicAuth; web.basicAuth && (b == nil || b.Username.Name == "" || b.Password.Name == "") {
			c.failf("%s: the exporter asks for basic auth (basic_auth_users in --web.config.file), and the endpoint has no basicAuth from a Secret", at)
		}
		if https := e.Scheme.String() == "https"; https != web.tls {
			c.failf("%s: endpoint scheme %q, but tls_server_config in --web.config.file is %v", at, e.Scheme.String(), web.tls)
		}
	}
}

// scrapeAnnotations checks the prometheus.io annotations that the
// kubernetes_sd scrape configuration of the prometheus-community Helm chart
// (job kubernetes-service-endpoints) reads, for a Prometheus without the
// Operator.
func (c *check) scrapeAnnotations(s *corev1.Service, d *appsv1.Deployment, web webSettings) {
	at := "Service " + s.Name
	scheme := "http"
	if web.tls {
		scheme = "https"
	}
	want := map[string]string{
		"prometheus.io/scrape": "true",
		"prometheus.io/port":   "9977",
		"prometheus.io/path":   "/metrics",
		"prometheus.io/scheme": scheme,
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got := s.Annotations[k]; got != want[k] && !(k == "prometheus.io/scheme" && got == "" && scheme == "http") {
			c.failf("%s: no ServiceMonitor, so it must be annotated for kubernetes_sd scraping: %s is %q, want %q", at, k, got, want[k])
		}
	}
}

// ruleConfigMap checks that the ConfigMap carries the mixin's rule files
// (as parsed YAML), and runs promtool check rules on them.
func (c *check) ruleConfigMap(cm *corev1.ConfigMap, mixinDir, promtool string) {
	at := "ConfigMap " + cm.Name
	for _, name := range ruleFiles {
		want, err := mixinGroups(mixinDir, name)
		if err != nil {
			c.failf("%s: %v", at, err)
			return
		}
		var got struct {
			Groups []any `json:"groups"`
		}
		if err := yaml.UnmarshalStrict([]byte(cm.Data[name]), &got); err != nil {
			c.failf("%s: %s: %v", at, name, err)
			continue
		}
		if len(want) == 0 || !reflect.DeepEqual(got.Groups, want) {
			c.failf("%s: %s differs from mixin/%s: run `go run . -write-rules` in deploy/kubernetes/validate", at, name, name)
		}
		c.promtool(at, promtool, name, []byte(cm.Data[name]))
	}
	if len(cm.Data) != len(ruleFiles) {
		c.failf("%s: want only the keys %s, got %d keys", at, strings.Join(ruleFiles, ", "), len(cm.Data))
	}
}

// mixinGroups returns the rule groups of one of the mixin's rule files.
func mixinGroups(mixinDir, name string) ([]any, error) {
	b, err := os.ReadFile(filepath.Join(mixinDir, name))
	if err != nil {
		return nil, err
	}
	var f struct {
		Groups []any `json:"groups"`
	}
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		return nil, fmt.Errorf("mixin/%s: %w", name, err)
	}
	return f.Groups, nil
}

// promtool runs promtool check rules on a rule file's content.
func (c *check) promtool(at, promtool, name string, rules []byte) {
	if promtool == "" {
		return
	}
	file := filepath.Join(os.TempDir(), fmt.Sprintf("informatica-%d-%s", os.Getpid(), name))
	defer os.Remove(file)
	if err := os.WriteFile(file, rules, 0o600); err != nil {
		c.failf("%s: %v", at, err)
		return
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		c.failf("%s: promtool check rules on %s: %v\n%s", at, name, err, out)
	}
}

// rules checks that the PrometheusRule carries exactly the mixin's rule
// groups, and runs promtool check rules on them.
func (c *check) rules(r *monitoringv1.PrometheusRule, raw []byte, mixinDir, promtool string) {
	at := "PrometheusRule " + r.Name
	var want []any
	for _, name := range ruleFiles {
		groups, err := mixinGroups(mixinDir, name)
		if err != nil {
			c.failf("%s: %v", at, err)
			return
		}
		want = append(want, groups...)
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
	rules, err := yaml.Marshal(map[string]any{"groups": got.Spec.Groups})
	if err != nil {
		c.failf("%s: %v", at, err)
		return
	}
	c.promtool(at, promtool, "prometheusrule.yml", rules)
}
