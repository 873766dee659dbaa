// Package promrules checks Lethe's Prometheus alerting rules and Grafana
// dashboard (charts/lethe/files) with Prometheus' own rule and PromQL
// parsers. It is a module of its own: github.com/prometheus/prometheus
// brings well over a hundred modules and newer versions of libraries the
// manager is built with, none of which the manager should carry for a test.
// Run it with `make rules-check`.
package promrules
