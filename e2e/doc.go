// Package e2e holds end-to-end tests: the shop example exporting over OTLP
// to a real OpenTelemetry Collector built with the official builder. The
// tests skip, saying why, when the collector cannot be built.
package e2e
