package customer_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/internal/faultnet"
	"github.com/kpikit/kpikit/internal/redisstore"
	"github.com/kpikit/kpikit/internal/redistest"
)

// errInjected is the error of a failing instrument.
var errInjected = errors.New("injected instrument failure")

// faultyProvider wraps a real MeterProvider; the meters it returns fail to
// create the instrument named fail, or to register callbacks when fail is
// "RegisterCallback", and delegate everything else.
type faultyProvider struct {
	metric.MeterProvider
	fail string
}

func (p faultyProvider) Meter(name string, opts ...metric.MeterOption) metric.Meter {
	return faultyMeter{Meter: p.MeterProvider.Meter(name, opts...), fail: p.fail}
}

type faultyMeter struct {
	metric.Meter
	fail string
}

func (m faultyMeter) RegisterCallback(f metric.Callback, insts ...metric.Observable) (metric.Registration, error) {
	if m.fail == "RegisterCallback" {
		return nil, errInjected
	}
	return m.Meter.RegisterCallback(f, insts...)
}

func (m faultyMeter) Int64Counter(name string, opts ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	if name == m.fail {
		return nil, errInjected
	}
	return m.Meter.Int64Counter(name, opts...)
}

func (m faultyMeter) Float64Histogram(name string, opts ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	if name == m.fail {
		return nil, errInjected
	}
	return m.Meter.Float64Histogram(name, opts...)
}

func (m faultyMeter) Int64ObservableCounter(name string, opts ...metric.Int64ObservableCounterOption) (metric.Int64ObservableCounter, error) {
	if name == m.fail {
		return nil, errInjected
	}
	return m.Meter.Int64ObservableCounter(name, opts...)
}

func (m faultyMeter) Int64ObservableUpDownCounter(name string, opts ...metric.Int64ObservableUpDownCounterOption) (metric.Int64ObservableUpDownCounter, error) {
	if name == m.fail {
		return nil, errInjected
	}
	return m.Meter.Int64ObservableUpDownCounter(name, opts...)
}

func (m faultyMeter) Int64ObservableGauge(name string, opts ...metric.Int64ObservableGaugeOption) (metric.Int64ObservableGauge, error) {
	if name == m.fail {
		return nil, errInjected
	}
	return m.Meter.Int64ObservableGauge(name, opts...)
}

func (m faultyMeter) Float64ObservableGauge(name string, opts ...metric.Float64ObservableGaugeOption) (metric.Float64ObservableGauge, error) {
	if name == m.fail {
		return nil, errInjected
	}
	return m.Meter.Float64ObservableGauge(name, opts...)
}

// verifyNoLeak checks, when the test ends, that every goroutine started
// since the call has ended. It waits up to four seconds for them: the
// Redis client's background dialer sleeps a second between attempts and
// ends at its next one after the client is closed.
func verifyNoLeak(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		deadline := time.Now().Add(4 * time.Second)
		for {
			err := goleak.Find(ignore)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Error(err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// newRecorder builds a recorder of kind "funnel", "goal" or "activity"
// and returns it as a closer with a function that records a few events,
// some of users without signup time.
func newRecorder(kind string, opts ...customer.Option) (closer, func(), error) {
	ctx := context.Background()
	at := t0
	switch kind {
	case "funnel":
		f, err := customer.NewFunnel("f", []string{"a", "b"}, opts...)
		if f == nil {
			return nil, nil, err
		}
		return f, func() {
			for _, u := range []string{"u1", "u2", "u3"} {
				f.StepAt(ctx, at, u, "a")
				f.StepAt(ctx, at, u, "b")
			}
		}, err
	case "goal":
		g, err := customer.NewGoal("g", opts...)
		if g == nil {
			return nil, nil, err
		}
		return g, func() {
			g.ExposeAt(ctx, at, "u1")
			g.ConvertAt(ctx, at, "u1")
		}, err
	default:
		a, err := customer.NewActivity("a", append(opts, customer.WithCurrencies("USD"))...)
		if a == nil {
			return nil, nil, err
		}
		return a, func() {
			a.ActiveAt(ctx, at, "u1", at)
			a.ActiveAt(ctx, at, "u2", time.Time{}) // first-seen: resolved in Redis
			a.PurchaseAt(ctx, at, "u3", time.Time{}, "USD", 100)
		}, err
	}
}

// TestConstructorErrorsLeakNothing: a constructor that fails because the
// MeterProvider cannot create or register an instrument returns no
// recorder and leaves no goroutine and no Redis connection behind,
// whatever the state.
func TestConstructorErrorsLeakNothing(t *testing.T) {
	srv := redistest.Start(t)
	clock := customer.WithClock(func() time.Time { return t0.Add(time.Hour) })
	states := []struct {
		name string
		opts func(t *testing.T) []customer.Option
	}{
		{"memory", func(*testing.T) []customer.Option { return nil }},
		{"snapshot", func(t *testing.T) []customer.Option {
			return []customer.Option{customer.WithSnapshot(filepath.Join(t.TempDir(), "state"), time.Millisecond)}
		}},
		{"redis", nil}, // stateOpts
	}
	faults := map[string][]string{
		"funnel":   {"kpikit.dropped", customer.MetricFunnelUsers, customer.MetricFunnelTrackedUsers, customer.MetricFunnelTimeToConvert, "RegisterCallback"},
		"goal":     {"kpikit.dropped", customer.MetricGoalExposures, customer.MetricGoalConversion, customer.MetricGoalTimeToConvert, "RegisterCallback"},
		"activity": {"kpikit.dropped", customer.MetricActiveUsers, customer.MetricRevenueAmount, customer.MetricActivityTrackedUsers, "RegisterCallback"},
	}
	for _, kind := range []string{"funnel", "goal", "activity"} {
		for _, st := range states {
			for _, fault := range faults[kind] {
				t.Run(kind+"/"+st.name+"/"+fault, func(t *testing.T) {
					h := newHarness(t)
					verifyNoLeak(t)
					mp := faultyProvider{MeterProvider: h.mp, fail: fault}
					opts := []customer.Option{customer.WithMeterProvider(mp), clock}
					if st.opts != nil {
						opts = append(opts, st.opts(t)...)
					} else {
						opts = append(opts, stateOpts(t, kind, srv.Addr(), "test:leak:", 0)...)
					}
					r, _, err := newRecorder(kind, opts...)
					if !errors.Is(err, errInjected) {
						t.Errorf("error %v, want the injected one", err)
					}
					if errors.Is(err, customer.ErrInvalidConfig) {
						t.Errorf("error %v wraps ErrInvalidConfig; the configuration was valid", err)
					}
					if r != nil {
						t.Errorf("a recorder was returned with the error %v", err)
					}
				})
			}
		}
	}
}

// TestConfigErrorsLeakNothing: a constructor that rejects its options
// leaves nothing running, whatever the state option.
func TestConfigErrorsLeakNothing(t *testing.T) {
	srv := redistest.Start(t)
	tests := []struct {
		name string
		opts []customer.Option
	}{
		{"redis and a bad name", nil},
		{"redis and a bad option", nil},
		{"snapshot in a missing directory", []customer.Option{customer.WithSnapshot("/nonexistent/dir/state", time.Millisecond)}},
	}
	for _, kind := range []string{"funnel", "goal", "activity"} {
		for _, tt := range tests {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				verifyNoLeak(t)
				opts := tt.opts
				switch tt.name {
				case "redis and a bad name":
					opts = stateOpts(t, kind, srv.Addr(), "", 0)
				case "redis and a bad option":
					opts = append(stateOpts(t, kind, srv.Addr(), "", 0), customer.WithMaxUsers(-1))
				}
				var err error
				switch {
				case tt.name == "redis and a bad name" && kind == "funnel":
					_, err = customer.NewFunnel("", []string{"a", "b"}, opts...)
				case tt.name == "redis and a bad name" && kind == "goal":
					_, err = customer.NewGoal("", opts...)
				case tt.name == "redis and a bad name":
					_, err = customer.NewActivity("", opts...)
				default:
					var r closer
					r, _, err = newRecorder(kind, opts...)
					if r != nil {
						t.Errorf("a recorder was returned with the error %v", err)
					}
				}
				if !errors.Is(err, customer.ErrInvalidConfig) {
					t.Errorf("error %v, want ErrInvalidConfig", err)
				}
			})
		}
	}
}

// TestUnreachableRedisWaitsEnd records into recorders whose Redis refuses
// connections, or accepts them and never answers: Flush, a collection and
// Shutdown each return by their deadline (plus a margin), with an error,
// and once shut down nothing is left running.
func TestUnreachableRedisWaitsEnd(t *testing.T) {
	captureErrors(t) // the flushers report the outage
	servers := []struct {
		name string
		addr func(testing.TB) string
	}{
		{"refusing", faultnet.Refused},
		{"silent", faultnet.Silent},
	}
	const deadline = 300 * time.Millisecond
	const margin = 1500 * time.Millisecond
	for _, srv := range servers {
		for _, kind := range []string{"funnel", "goal", "activity"} {
			t.Run(srv.name+"/"+kind, func(t *testing.T) {
				addr := srv.addr(t)
				verifyNoLeak(t)
				h := newHarness(t)
				r, record, err := newRecorder(kind, append([]customer.Option{customer.WithMeterProvider(h.mp),
					customer.WithClock(func() time.Time { return t0.Add(time.Hour) })},
					stateOpts(t, kind, addr, "", 64)...)...)
				if err != nil {
					t.Fatal(err)
				}
				record()
				bounded := func(what string, limit time.Duration, fn func(ctx context.Context) error) {
					t.Helper()
					ctx, cancel := context.WithTimeout(context.Background(), deadline)
					defer cancel()
					start := time.Now()
					err := fn(ctx)
					took := time.Since(start)
					if took > limit {
						t.Errorf("%s took %v, want at most %v", what, took, limit)
					}
					if err == nil {
						t.Errorf("%s returned nil with Redis unreachable", what)
					}
				}
				bounded("Flush", deadline+margin, r.Flush)
				bounded("collection", deadline+margin, func(ctx context.Context) error {
					_, err := collectErr(ctx, h)
					return err
				})
				bounded("Shutdown", deadline+margin, r.Shutdown)
			})
		}
	}
}

// collectErr collects with ctx and returns the collection's error.
func collectErr(ctx context.Context, h *harness) (metricdata.ResourceMetrics, error) {
	var rm metricdata.ResourceMetrics
	err := h.reader.Collect(ctx, &rm)
	return rm, err
}

// TestSilentRedisCollectionEnds: a collection without a deadline, from a
// recorder whose Redis accepts connections and never answers, ends within
// the library's own bound on a Redis round trip.
func TestSilentRedisCollectionEnds(t *testing.T) {
	captureErrors(t)
	addr := faultnet.Silent(t)
	verifyNoLeak(t)
	var wg sync.WaitGroup
	for _, kind := range []string{"funnel", "goal", "activity"} {
		h := newHarness(t)
		r, record, err := newRecorder(kind, append([]customer.Option{customer.WithMeterProvider(h.mp),
			customer.WithClock(func() time.Time { return t0.Add(time.Hour) })}, stateOpts(t, kind, addr, "", 0)...)...)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			_ = r.Shutdown(ctx)
		}()
		record()
		wg.Go(func() {
			start := time.Now()
			_, err := collectErr(context.Background(), h)
			if took, limit := time.Since(start), redisstore.Timeout+2*time.Second; took > limit {
				t.Errorf("%s: collection took %v, want at most %v", kind, took, limit)
			}
			if err == nil {
				t.Errorf("%s: collection returned no error with Redis silent", kind)
			}
		})
	}
	wg.Wait()
}
