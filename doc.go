// Package kpikit records customer KPIs and operational metrics through one
// OpenTelemetry MeterProvider, so that product dashboards and on-call
// dashboards read the same pipeline.
//
// The module is split by job; import only what you need:
//
//   - [github.com/kpikit/kpikit/customer] records customer KPIs: conversion
//     funnels, cohort retention, revenue / ARPU / ARPPU / LTV and active users.
//     A user id is never a metric attribute.
//   - [github.com/kpikit/kpikit/operational] records service health: latency
//     histograms, error counters, net/http middleware and client transport
//     following the OpenTelemetry HTTP semantic conventions.
//   - [github.com/kpikit/kpikit/slo] declares service-level objectives in
//     code — availability and latency of requests and operations, and a
//     goal's conversion — which the recorders of customer and operational
//     count live (error budget, burn rates, alerts), and generates
//     Prometheus rules, a sloth spec and OpenSLO documents from them.
//   - [github.com/kpikit/kpikit/exporter] builds the SDK MeterProvider the
//     recorders write into and ships the metrics to an OTLP collector (gRPC or
//     HTTP), to Prometheus, or to the console, configured by options and the
//     standard OTEL_* environment variables.
//
// The two halves meet in process: a customer recorder called with the
// context of a request that operational's Middleware serves links its user
// to the request, and a failed request (a 5xx, a panic, or slower than a
// latency SLO) then counts as funnel attempts impaired, conversions lost,
// revenue at risk and users affected, with no user id ever an attribute.
//
// customer and operational depend only on the OpenTelemetry metric API: an
// application that already owns a MeterProvider imports them alone and links
// neither the SDK nor any exporter. Only exporter brings in the SDK.
package kpikit
