// Package conformance checks the documents package slo generates with the
// tools that read them: the sloth spec ([slo.WriteSloth]) with sloth's own
// library, whose Prometheus rules promtool must then accept, and the
// OpenSLO documents ([slo.WriteOpenSLO]) with the OpenSLO project's oslo
// parser and validator. It is a module of its own so that sloth, oslo and
// their dependencies (Prometheus, Kubernetes client libraries) never enter
// the library's; it holds tests only:
//
//	cd slo/conformance && go test ./...
//
// The promtool check needs the promtool binary that .ci/run builds (see
// internal/tooltest); without it, that test skips, or fails when
// KPIKIT_REQUIRE_TOOLS is set.
package conformance
