// Package slo declares service-level objectives in code, beside the
// handlers and recorders they are about, and generates from the same
// declarations what the fleet needs: Prometheus recording and alerting
// rules ([WriteRules]), a sloth spec ([WriteSloth]) and OpenSLO documents
// ([WriteOpenSLO]).
//
// # Declaring
//
// An [SLO] is plain data: a name, an objective such as 0.999, a rolling
// window (30 days by default) and one [SLI]:
//
//   - [HTTPAvailability] and [HTTPLatency]: requests served through an
//     operational.Middleware, selected by route and method; give the SLOs
//     to it with operational.WithSLOs.
//   - [OperationAvailability] and [OperationLatency]: the calls of one
//     operational.Operation, given to it with operational.WithSLOs.
//   - [GoalConversion]: the attempts of one customer.Goal that convert,
//     given to it with customer.WithSLOs — a customer-KPI objective such as
//     "80% of carts are paid within the hour".
//
// Recorders validate the SLOs they are given ([SLO.Validate]): a bad
// objective, window, threshold or selection, or two SLOs with one name,
// is an error at construction that names the value.
//
// # Live, in process
//
// A recorder given SLOs reports, per SLO, the metrics named by the
// Metric* constants: the objective, cumulative good and total event counts
// (counters a fleet sums), the error ratio and burn rate over 5m, 30m, 1h,
// 2h, 6h, 1d, 3d and the SLO's window, the error budget remaining, and
// the state of the alerts of the multiwindow, multi-burn-rate policy of the
// Google SRE workbook ([SLO.Policy]) with a minimum-events guard. Its
// SLOStatus method returns the same figures as a [Status]. They are the
// replica's own view: across replicas, the generated rules compute the
// fleet's from the summed series.
//
// Counting an event costs one or two atomic additions per matching SLO and
// no allocation. A snapshot of the counts is kept per minute for the
// windows up to 6 hours and per hour beyond, about 24 KiB per SLO.
//
// # Generated, for the fleet
//
// [WriteRules] writes the rules over the Prometheus names that the
// OpenTelemetry Collector's Prometheus exporters and Prometheus's OTLP
// receiver give kpikit's metrics (http_server_request_duration_seconds_count
// and _bucket, kpikit_operation_duration_seconds_*, customer_goal_*_total).
// Ratios are taken over increase() of the counters, so that the recorded
// ratio is the same number the replica computes from the same counts.
package slo
