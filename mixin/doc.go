// Package mixin holds the monitoring stack of informatica_exporter: the
// Prometheus recording rules (rules.yml) and alerts (alerts.yml), their
// promtool unit tests (tests/), and a Grafana dashboard (dashboard.json).
// README.md in this directory explains how to install them.
//
// The Go code here is only tests: static checks of the files, promtool's
// checks and unit tests, and an end-to-end test that runs the exporter in
// demo mode with a real Prometheus and Alertmanager.
package mixin
