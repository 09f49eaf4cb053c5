// Package grafana holds the shop's Grafana dashboard.
//
// dashboard.json reads the metrics of examples/shop as the OpenTelemetry
// Collector's Prometheus exporter names them (see ../collector); the test
// keeps every metric it queries in step with the metrics documented in the
// repository's README and, for the SLO metrics, in package slo.
package grafana
