package main

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
)

// The release that the chart is rendered as.
const (
	releaseName      = "informatica-exporter"
	releaseNamespace = "monitoring"
)

// checkChart lints the Helm chart and renders it as `helm template` does,
// with its default values and with each values file in its ci/ folder, and
// checks every rendered object as those of the kustomizations: strictly
// decoded, fitting together, the rules equal to the mixin's. The chart's
// appVersion, and so the default image tag, must equal the VERSION file.
func checkChart(p paths, promtool string, print bool) error {
	b, err := os.ReadFile(p.version)
	if err != nil {
		return fmt.Errorf("the chart's appVersion must equal the VERSION file: %w", err)
	}
	version := strings.TrimSpace(string(b))
	files, err := filepath.Glob(filepath.Join(p.chart, "ci", "*-values.yaml"))
	if err != nil {
		return err
	}
	for _, file := range append([]string{""}, files...) {
		vals := common.Values{}
		what := fmt.Sprintf("chart %s", p.chart)
		if file != "" {
			if vals, err = common.ReadValuesFile(file); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			what += " with " + file
		}
		if err := lintChart(p.chart, vals); err != nil {
			return fmt.Errorf("helm lint %s: %w", what, err)
		}
		objs, appVersion, err := renderChart(p.chart, vals, print)
		if err != nil {
			return fmt.Errorf("helm template %s: %w", what, err)
		}
		if appVersion != version {
			return fmt.Errorf("%s: appVersion %q in Chart.yaml, but VERSION says %q", what, appVersion, version)
		}
		if err := validate(objs, p.mixin, promtool); err != nil {
			return fmt.Errorf("helm template %s: %w", what, err)
		}
		if file == "" {
			if img := objs.deployments[0].Spec.Template.Spec.Containers[0].Image; !strings.HasSuffix(img, ":"+version) {
				return fmt.Errorf("helm template %s: image %s, want the tag %s of VERSION", what, img, version)
			}
		}
		fmt.Printf("ok: helm lint and helm template %s: %s\n", what, objs.summary(promtool))
	}
	return nil
}

// lintChart runs helm lint's rules; a warning fails, as with helm lint --strict.
func lintChart(dir string, vals common.Values) error {
	var errs []error
	for _, m := range lint.RunAll(dir, vals, releaseNamespace).Messages {
		if m.Severity >= support.WarningSev {
			errs = append(errs, errors.New(m.Error()))
		}
	}
	return errors.Join(errs...)
}

// renderChart renders the chart as helm template does (helm's action.Install
// in client-only dry-run mode: the same loader, values, engine and manifest
// sorting, without the Kubernetes client that package brings), and decodes
// the objects strictly. It returns them and the chart's appVersion.
func renderChart(dir string, vals common.Values, print bool) (*objects, string, error) {
	chrt, err := loader.Load(dir)
	if err != nil {
		return nil, "", err
	}
	top, err := util.ToRenderValuesWithSchemaValidation(chrt, vals,
		common.ReleaseOptions{Name: releaseName, Namespace: releaseNamespace, Revision: 1, IsInstall: true}, nil, false)
	if err != nil {
		return nil, "", err
	}
	files, err := engine.Render(chrt, top)
	if err != nil {
		return nil, "", err
	}
	for name := range files {
		if path.Base(name) == "NOTES.txt" {
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, "", err
	}
	if len(hooks) > 0 {
		return nil, "", fmt.Errorf("%d hooks: the chart has none, and this check does not look at them", len(hooks))
	}
	var stream strings.Builder
	for _, m := range manifests {
		fmt.Fprintf(&stream, "---\n# Source: %s\n%s\n", m.Name, m.Content)
	}
	if print {
		fmt.Print(stream.String())
	}
	objs, err := decode([]byte(stream.String()))
	if err != nil {
		return nil, "", err
	}
	return objs, chrt.Metadata.AppVersion, nil
}
