package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/kpikit/kpikit/slo"
)

// shopService is the service the generated sloth and OpenSLO documents name.
const shopService = "shop"

// shopSLOs returns the shop's service-level objectives. The objectives are
// ones the shop's default traffic meets (-error-rate 0.02, -latency 20ms),
// with part of the budget spent, so that a higher -error-rate or -latency
// shows the budget burning.
func shopSLOs() []slo.SLO {
	return []slo.SLO{
		{
			Name:        "availability",
			Description: "97% of the shop's requests succeed: no 5xx, no panic. The shop fails 2% of its requests by default.",
			Objective:   0.97,
			SLI:         slo.HTTPAvailability{},
		},
		{
			Name:        "pay-availability",
			Description: "97% of the payments (POST /pay) succeed.",
			Objective:   0.97,
			SLI:         slo.HTTPAvailability{Routes: []string{"/pay"}, Methods: []string{"POST"}},
		},
		{
			Name:        "latency",
			Description: "95% of the shop's requests succeed within 100ms. A request's work takes 20ms on average by default, and one in a hundred is ten times slower.",
			Objective:   0.95,
			SLI:         slo.HTTPLatency{Threshold: 100 * time.Millisecond},
		},
		{
			Name:        "db-query-latency",
			Description: "95% of the shop's database queries (operation shop.db.query) succeed within 250ms.",
			Objective:   0.95,
			SLI:         slo.OperationLatency{Operation: "shop.db.query", Threshold: 250 * time.Millisecond},
		},
		{
			Name:        "cart-to-paid",
			Description: "60% of the users who open the checkout pay within the day (goal cart_to_paid). About three in four of the shop's simulated users do.",
			Objective:   0.6,
			SLI:         slo.GoalConversion{Goal: "cart_to_paid"},
		},
	}
}

// writeSLOFiles writes the files the -slo-rules, -sloth and -openslo flags
// name, each generated from slos; "-" is stdout. It reports whether any was
// asked for.
func writeSLOFiles(c config, slos []slo.SLO, stdout io.Writer) (bool, error) {
	files := []struct {
		flag, path string
		write      func(io.Writer) error
	}{
		{"-slo-rules", c.sloRules, func(w io.Writer) error { return slo.WriteRules(w, slos) }},
		{"-sloth", c.sloth, func(w io.Writer) error { return slo.WriteSloth(w, shopService, slos) }},
		{"-openslo", c.openSLO, func(w io.Writer) error { return slo.WriteOpenSLO(w, shopService, slos) }},
	}
	asked := false
	var errs []error
	for _, f := range files {
		if f.path == "" {
			continue
		}
		asked = true
		if err := writeFile(f.path, stdout, f.write); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", f.flag, f.path, err))
		}
	}
	return asked, errors.Join(errs...)
}

// writeFile writes what write writes to path, or to stdout when path is "-".
func writeFile(path string, stdout io.Writer, write func(io.Writer) error) error {
	if path == "-" {
		return write(stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	return errors.Join(write(f), f.Close())
}
