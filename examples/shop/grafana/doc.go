// Package grafana holds the shop's Grafana dashboard.
//
// dashboard.json reads the metrics of examples/shop as the OpenTelemetry
// Collector's Prometheus exporter names them (see ../collector); the test
// keeps every metric it queries in step with the metrics documented in the
// repository's README and, for the SLO metrics, in package slo; a metric
// the README's tables leave out (kpikit.affected_users) is checked against
// what the library reports.
package grafana
