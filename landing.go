package main

import (
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/ipumon/informatica_exporter/collector"
)

// landingPage serves exporter-toolkit's landing page with the outcome of
// the last reload and a table of the accounts' refresh status, rendered on
// every request.
func landingPage(metricsPath string, e *collector.Exporter, reloads *reloader, logger log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var status strings.Builder
		data := struct {
			Reload   reloadStatus
			Accounts []collector.AccountStatus
		}{reloads.status(), e.Status()}
		if err := statusTemplate.Execute(&status, data); err != nil {
			level.Error(logger).Log("msg", "Cannot render the account status", "err", err)
		}
		page, err := web.NewLandingPage(web.LandingConfig{
			Name:        "Informatica Exporter",
			Description: "Prometheus exporter for Informatica IICS/IDMC IPU consumption",
			Version:     version.Info(),
			Profiling:   "false",
			Links: []web.LandingLinks{
				{Address: metricsPath, Text: "Metrics"},
				{Address: "/-/healthy", Text: "Health"},
				{Address: "/-/ready", Text: "Readiness", Description: "200 once every account has finished a first refresh"},
			},
			ExtraHTML: status.String(),
			ExtraCSS:  "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}",
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		page.ServeHTTP(w, r)
	})
}

// statusTemplate is html/template, so account names and error texts are
// escaped before they reach the page.
var statusTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format(time.RFC3339)
	},
}).Parse(`<h3>Configuration</h3>
<p>{{with .Reload}}{{if .Initial}}Loaded at start, {{ts .At}}.{{else if .Err}}Last reload failed at {{ts .At}}: {{.Err}}. Running the configuration loaded at {{ts .LastSuccess}}.{{else}}Last reload succeeded at {{ts .At}}.{{end}}{{end}}</p>
<h3>Accounts</h3>
<table>
<tr><th>Account</th><th>State</th><th>Last success</th><th>Next refresh</th><th>Breakdowns: last success</th><th>Contract: last success</th><th>Orgs</th><th>Rows</th><th>Last error</th></tr>
{{range .Accounts}}<tr><td>{{.Name}}</td><td>{{if not .Attempted}}first refresh running{{else if .Up}}up{{else}}down ({{.ErrorStage}}){{end}}</td><td>{{ts .LastSuccess}}</td><td>{{or .Activity (ts .NextRefresh)}}</td><td>{{range $i, $b := .Breakdowns}}{{if $i}}, {{end}}{{$b.Kind}}: {{ts $b.LastSuccess}}{{else}}none{{end}}</td><td>{{range $i, $c := .Contract}}{{if $i}}, {{end}}{{$c.Source}}: {{ts $c.LastSuccess}}{{with $c.LastError}} (last read failed: {{.}}){{end}}{{with $c.Refused}} ({{len .}} linked org(s) refused it){{end}}{{else}}none{{end}}</td><td>{{.Orgs}}</td><td>{{.Rows}}</td><td>{{.LastError}}</td></tr>
{{end}}</table>`))
