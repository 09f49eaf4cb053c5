// Package slotest holds the SLO declarations that the tests of package slo
// and of its conformance module generate rules and documents from: one of
// every SLI kind, with route and method selections, the default and a
// 28-day window, and a custom minimum-events guard.
package slotest

import (
	"time"

	"github.com/kpikit/kpikit/slo"
)

// Service is the service name the sloth and OpenSLO documents are written
// for.
const Service = "shop"

// SLOs returns the fixed declarations, a new slice on each call.
func SLOs() []slo.SLO {
	return []slo.SLO{
		{
			Name:        "checkout-availability",
			Description: "Checkout and item pages answer without a server error.",
			Objective:   0.999,
			SLI: slo.HTTPAvailability{
				Routes:  []string{"/checkout", "/items/{id}"},
				Methods: []string{"GET", "POST"},
			},
		},
		{
			Name:      "checkout-latency",
			Objective: 0.99,
			SLI:       slo.HTTPLatency{Threshold: 300 * time.Millisecond, Routes: []string{"/checkout"}},
		},
		{
			Name:      "charge-availability",
			Objective: 0.9995,
			MinEvents: 50,
			SLI:       slo.OperationAvailability{Operation: "charge"},
		},
		{
			Name:      "charge-latency",
			Objective: 0.99,
			SLI:       slo.OperationLatency{Operation: "charge", Threshold: time.Second},
		},
		{
			Name:        "cart-paid",
			Description: "80% of carts are paid within the hour.",
			Objective:   0.8,
			Window:      28 * slo.Day,
			SLI:         slo.GoalConversion{Goal: "cart-paid"},
		},
	}
}
