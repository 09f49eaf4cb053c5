package customer

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
)

// This file keeps the figures of a closed recorder. Close reads them once
// more, as a collection would, and from then on the recorder's callback
// reports that reading: the callback stays registered, so whatever the
// order of the recorder's Close and the provider's Shutdown, the provider's
// final collection carries the recorder's last values. Only the background
// goroutines and the store connections stop.

// observation is one value a callback reported.
type observation struct {
	i    metric.Int64Observable // nil for a float value
	f    metric.Float64Observable
	iv   int64
	fv   float64
	opts []metric.ObserveOption // prebuilt by the recorder, never modified
}

// reading is an observer that keeps what a callback reported.
type reading struct {
	embedded.Observer
	obs []observation
}

func (r *reading) ObserveInt64(i metric.Int64Observable, v int64, opts ...metric.ObserveOption) {
	r.obs = append(r.obs, observation{i: i, iv: v, opts: opts})
}

func (r *reading) ObserveFloat64(f metric.Float64Observable, v float64, opts ...metric.ObserveOption) {
	r.obs = append(r.obs, observation{f: f, fv: v, opts: opts})
}

// replay reports the kept values to o.
func (r *reading) replay(o metric.Observer) {
	for i := range r.obs {
		x := &r.obs[i]
		if x.i != nil {
			o.ObserveInt64(x.i, x.iv, x.opts...)
		} else {
			o.ObserveFloat64(x.f, x.fv, x.opts...)
		}
	}
}

// collector is the callback of a recorder: it runs the live collection
// (observe) one at a time, and after freeze it reports the final reading.
// It is registered before the recorder's state exists and reports nothing
// until start.
type collector struct {
	mu      sync.Mutex      // serialises collections and freeze; guards the fields
	observe metric.Callback // set by start
	final   *reading        // non-nil once the recorder is closed
}

// start makes the callback report through observe.
func (c *collector) start(observe metric.Callback) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.observe = observe
}

// callback is the function registered with the meter.
func (c *collector) callback(ctx context.Context, o metric.Observer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.final != nil:
		c.final.replay(o)
		return nil
	case c.observe == nil:
		return nil
	}
	return c.observe(ctx, o)
}

// freeze reads the figures once more and reports that reading from then
// on. It returns the error of the reading (a failed Redis read keeps what
// was read before it failed).
func (c *collector) freeze(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.final != nil || c.observe == nil {
		return nil
	}
	r := new(reading)
	err := c.observe(ctx, r)
	c.final = r
	return err
}
