package customer_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/internal/redistest"
)

// lastExport is a metric exporter that keeps the points of its last
// export, flattened.
type lastExport struct {
	mu     sync.Mutex
	points map[string]float64
	n      int
}

func (e *lastExport) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return sdkmetric.DefaultTemporalitySelector(k)
}

func (e *lastExport) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}

func (e *lastExport) Export(_ context.Context, rm *metricdata.ResourceMetrics) error {
	p := flatten(*rm) // copies: the reader reuses rm
	e.mu.Lock()
	defer e.mu.Unlock()
	e.points, e.n = p, e.n+1
	return nil
}

func (e *lastExport) ForceFlush(context.Context) error { return nil }
func (e *lastExport) Shutdown(context.Context) error   { return nil }

func (e *lastExport) last() (map[string]float64, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.points, e.n
}

// finalProvider is a provider with a manual reader, to read the values
// before closing, and a periodic reader that exports only when the
// provider shuts down: its export is the final one.
type finalProvider struct {
	mp     *sdkmetric.MeterProvider
	manual *sdkmetric.ManualReader
	final  *lastExport
}

func newFinalProvider(t *testing.T) *finalProvider {
	t.Helper()
	p := &finalProvider{manual: sdkmetric.NewManualReader(), final: new(lastExport)}
	p.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(p.manual),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(p.final, sdkmetric.WithInterval(time.Hour))))
	t.Cleanup(func() { _ = p.mp.Shutdown(context.Background()) })
	return p
}

// closer is what every recorder with state has.
type closer interface {
	Close() error
	Shutdown(context.Context) error
	Flush(context.Context) error
}

// TestCloseKeepsFinalValues closes each kind of recorder and its provider
// in both orders, with memory and with Redis state: the provider's final
// export carries the values the recorder reported before it was closed.
// An event recorded after Close changes no value and is counted as
// dropped with reason "closed".
func TestCloseKeepsFinalValues(t *testing.T) {
	srv := redistest.Start(t)
	now := t0.Add(2 * time.Hour)
	clock := customer.WithClock(func() time.Time { return now })
	ctx := context.Background()
	kinds := []struct {
		name      string
		component string
		start     func(t *testing.T, opts ...customer.Option) (closer, func())
		noRedis   bool // figures kept in memory only
	}{
		{"funnel", "customer.funnel", func(t *testing.T, opts ...customer.Option) (closer, func()) {
			f := mustFunnel(t, "checkout", []string{"cart", "pay"}, append(opts, customer.WithSegments("plan"))...)
			f.StepAt(ctx, t0, "u1", "cart", "pro")
			f.StepAt(ctx, t0.Add(time.Minute), "u1", "pay")
			f.StepAt(ctx, t0, "u2", "cart", "free")
			return f, func() { f.StepAt(ctx, t0, "u3", "cart", "pro") }
		}, false},
		{"funnel by period", "customer.funnel", func(t *testing.T, opts ...customer.Option) (closer, func()) {
			f := mustFunnel(t, "checkout", []string{"cart", "pay"}, append(opts, customer.WithSegments("plan"),
				customer.WithPeriod(customer.Day), customer.WithExclusion("coupon", "cart", "pay"))...)
			f.StepAt(ctx, t0, "u1", "cart", "pro")
			f.StepAt(ctx, t0.Add(time.Minute), "u1", "pay")
			f.StepAt(ctx, t0, "u2", "cart", "free")
			return f, func() { f.StepAt(ctx, t0.Add(time.Minute), "u2", "coupon") }
		}, true},
		{"goal", "customer.goal", func(t *testing.T, opts ...customer.Option) (closer, func()) {
			g := mustGoal(t, "trial", opts...)
			g.ExposeAt(ctx, t0, "u1")
			g.ExposeAt(ctx, t0, "u2")
			g.ConvertAt(ctx, t0.Add(time.Hour), "u2")
			return g, func() { g.ExposeAt(ctx, t0, "u3") }
		}, false},
		{"activity", "customer.activity", func(t *testing.T, opts ...customer.Option) (closer, func()) {
			a, err := customer.NewActivity("shop", append(opts, customer.WithCurrencies("USD"))...)
			if err != nil {
				t.Fatal(err)
			}
			a.PurchaseAt(ctx, t0, "u1", time.Time{}, "USD", 1999)
			a.ActiveAt(ctx, t0, "u2", time.Time{})
			a.ActiveAt(ctx, t0.Add(time.Hour), "u3", t0)
			return a, func() { a.PurchaseAt(ctx, t0, "u4", time.Time{}, "USD", 500) }
		}, false},
	}
	states := []struct {
		name string
		opts func(t *testing.T, kind, prefix string) []customer.Option
	}{
		{"memory", func(*testing.T, string, string) []customer.Option { return nil }},
		{"snapshot", func(t *testing.T, _, _ string) []customer.Option {
			return []customer.Option{customer.WithSnapshot(filepath.Join(t.TempDir(), "state"), time.Hour)}
		}},
		{"redis", func(t *testing.T, kind, prefix string) []customer.Option {
			return stateOpts(t, kind, srv.Addr(), prefix, 0)
		}},
	}
	for _, k := range kinds {
		for _, st := range states {
			if k.noRedis && st.name == "redis" {
				continue
			}
			for _, recorderFirst := range []bool{true, false} {
				order := map[bool]string{true: "recorder first", false: "provider first"}[recorderFirst]
				t.Run(k.name+"/"+st.name+"/"+order, func(t *testing.T) {
					p := newFinalProvider(t)
					prefix := "test:close:" + strings.ReplaceAll(t.Name(), "/", ":") + ":"
					opts := append([]customer.Option{customer.WithMeterProvider(p.mp), clock}, st.opts(t, k.name, prefix)...)
					r, late := k.start(t, opts...)
					if err := r.Flush(ctx); err != nil {
						t.Fatal(err)
					}
					var rm metricdata.ResourceMetrics
					if err := p.manual.Collect(ctx, &rm); err != nil {
						t.Fatal(err)
					}
					want := only(flatten(rm), "customer.")
					if len(want) < 3 {
						t.Fatalf("only %d points before closing: %v", len(want), want)
					}
					closedKey := droppedKey(k.component, "closed")

					if recorderFirst {
						if err := r.Close(); err != nil {
							t.Fatalf("Close: %v", err)
						}
						late() // after Close: dropped, changes nothing
					}
					if err := p.mp.Shutdown(ctx); err != nil {
						t.Fatalf("provider Shutdown: %v", err)
					}
					if !recorderFirst {
						if err := r.Close(); err != nil {
							t.Fatalf("Close after the provider's Shutdown: %v", err)
						}
						late() // must not panic
					}
					got, n := p.final.last()
					if n != 1 {
						t.Fatalf("%d exports, want the final one only", n)
					}
					if diff := cmp.Diff(want, only(got, "customer.")); diff != "" {
						t.Errorf("final export (-before closing +final):\n%s", diff)
					}
					if recorderFirst && got[closedKey] != 1 {
						t.Errorf("%s = %v, want 1 (one event after Close); drops %v", closedKey, got[closedKey], nonzeroDrops(got))
					}
					if err := r.Close(); err != nil {
						t.Errorf("second Close: %v", err)
					}
				})
			}
		}
	}
}
