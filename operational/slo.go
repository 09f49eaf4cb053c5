package operational

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/internal/budget"
	"github.com/kpikit/kpikit/slo"
)

// WithSLOs gives a [Middleware] or an [Operation] service-level objectives
// to count its requests or calls against (see package slo). A Middleware
// takes [slo.HTTPAvailability] and [slo.HTTPLatency] SLOs, an Operation
// [slo.OperationAvailability] and [slo.OperationLatency] SLOs naming it.
// One request counts for every SLO that selects it; a route folded into
// "_OTHER" by [WithValueLimit] is selected only by SLOs of every route,
// as in the generated rules. Calls accumulate. The
// constructor rejects an invalid SLO, an SLO of another recorder and two
// SLOs with one name, with an error naming the value.
//
// Each SLO is reported on the slo.* metrics (see package slo) and by
// SLOStatus; counting costs one or two atomic additions per matching SLO.
// An [slo.HTTPLatency] threshold that is not one of [DurationBuckets] is
// added to the boundaries of the Middleware's duration histogram, so that
// the generated rules can read the SLI from the buckets; a MeterProvider
// whose views set other boundaries for http.server.request.duration
// defeats that (package exporter's provider keeps them).
func WithSLOs(slos ...slo.SLO) Option {
	slos = slices.Clone(slos)
	return newOption("WithSLOs", kindMiddleware|kindOperation, func(c config) config {
		c.slos = append(c.slos, slos...)
		return c
	})
}

// checkSLOs validates the SLOs of a recorder: valid, uniquely named, and
// counted by want.
func checkSLOs(slos []slo.SLO, want slo.Counter, wantText string) error {
	errs := []error{slo.ValidateAll(slos)}
	for _, s := range slos {
		if s.SLI != nil && s.CountedBy() != want {
			errs = append(errs, fmt.Errorf("%w: SLO %q has SLI %T%+v, want %s", ErrInvalidOption, s.Name, s.SLI, s.SLI, wantText))
		}
	}
	return errors.Join(errs...)
}

// sloMatch is one SLO of a Middleware with its selection compiled.
type sloMatch struct {
	t       *budget.Tracker
	methods uint32 // bit i: methodNames[i] selected
	routes  map[string]bool
}

func (s *sloMatch) selects(route string) bool { return s.routes == nil || s.routes[route] }

// sloSet is the SLO state shared by a Middleware and an Operation.
type sloSet struct {
	trackers []*budget.Tracker
	in       *budget.Instruments
}

// init creates the trackers and registers their metrics on meter.
func (s *sloSet) init(meter metric.Meter, slos []slo.SLO) error {
	if len(slos) == 0 {
		return nil
	}
	now := time.Now()
	for _, d := range slos {
		s.trackers = append(s.trackers, budget.New(d, now))
	}
	in, err := budget.NewInstruments(meter)
	s.in = in
	_, rerr := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s.in.Observe(o, time.Now(), s.trackers)
		return nil
	}, in.Observables()...)
	return errors.Join(err, rerr)
}

// status returns the status of each SLO now.
func (s *sloSet) status() []slo.Status {
	if len(s.trackers) == 0 {
		return nil
	}
	now := time.Now()
	out := make([]slo.Status, len(s.trackers))
	for i, t := range s.trackers {
		out[i] = t.Status(now)
	}
	return out
}

// compile builds the selection of each tracker of a Middleware.
func compileHTTP(trackers []*budget.Tracker) []*sloMatch {
	if len(trackers) == 0 {
		return nil // no SLO: the middleware may skip the recording
	}
	out := make([]*sloMatch, len(trackers))
	for i, t := range trackers {
		var routes, methods []string
		switch x := t.SLO().SLI.(type) {
		case slo.HTTPAvailability:
			routes, methods = x.Routes, x.Methods
		case slo.HTTPLatency:
			routes, methods = x.Routes, x.Methods
		}
		m := &sloMatch{t: t, methods: 1<<len(methodNames) - 1}
		if routes != nil {
			m.routes = make(map[string]bool, len(routes))
			for _, r := range routes {
				m.routes[r] = true
			}
		}
		if methods != nil {
			m.methods = 0
			for _, name := range methods {
				m.methods |= 1 << methodIndex(name)
			}
		}
		out[i] = m
	}
	return out
}

// durationBoundaries returns DurationBuckets with the latency thresholds of
// slos added.
func durationBoundaries(slos []slo.SLO) []float64 {
	b := slices.Clone(DurationBuckets)
	for _, s := range slos {
		if th := s.LatencyThreshold(); th > 0 {
			b = append(b, th.Seconds())
		}
	}
	slices.Sort(b)
	return slices.Compact(b)
}

// routeSLOs returns the SLOs that select route.
func (m *Middleware) routeSLOs(route string) []*sloMatch {
	var out []*sloMatch
	for _, s := range m.slos {
		if s.selects(route) {
			out = append(out, s)
		}
	}
	return out
}

// countSLOs counts one request for the SLOs of its route that select its
// method, and reports whether one of them found it too slow.
func countSLOs(slos []*sloMatch, method uint32, end int64, failed bool, elapsed time.Duration) (slow bool) {
	for _, s := range slos {
		if s.methods&(1<<method) != 0 {
			good := s.t.Good(failed, elapsed)
			s.t.Add(end, good)
			slow = slow || !good && !failed
		}
	}
	return slow
}

// SLOStatus returns the status of each SLO given with [WithSLOs], in their
// order: this process's view. It returns nil for a Middleware without SLOs.
func (m *Middleware) SLOStatus() []slo.Status {
	if m == nil {
		return nil
	}
	return m.sloSet.status()
}

// SLOStatus returns the status of each SLO given with [WithSLOs], in their
// order. It returns nil for an Operation without SLOs.
func (o *Operation) SLOStatus() []slo.Status {
	if o == nil {
		return nil
	}
	return o.sloSet.status()
}
