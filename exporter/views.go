package exporter

import sdkmetric "go.opentelemetry.io/otel/sdk/metric"

// DurationBuckets are the bucket boundaries, in seconds, that the
// OpenTelemetry HTTP semantic conventions advise for request durations. The
// provider applies them to every histogram named "*.duration" with unit "s"
// that kpikit's operational package does not create: those advise these
// boundaries themselves, plus the latency thresholds of their SLOs.
var DurationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// operationalScope is the instrumentation scope of package operational
// (operational.ScopeName; not imported, to keep the packages apart).
const operationalScope = "github.com/kpikit/kpikit/operational"

// latency selects the latency histograms.
var latency = sdkmetric.Instrument{Name: "*.duration", Kind: sdkmetric.InstrumentKindHistogram, Unit: "s"}

func (s settings) views() []sdkmetric.View {
	agg := sdkmetric.Aggregation(sdkmetric.AggregationExplicitBucketHistogram{Boundaries: DurationBuckets})
	if s.exponential {
		agg = sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}
	}
	view := sdkmetric.NewView(latency, sdkmetric.Stream{Aggregation: agg})
	if !s.exponential {
		all := view
		view = func(i sdkmetric.Instrument) (sdkmetric.Stream, bool) {
			if i.Scope.Name == operationalScope {
				// Its advice holds the boundaries, SLO thresholds included.
				return sdkmetric.Stream{}, false
			}
			return all(i)
		}
	}
	return append([]sdkmetric.View{view}, s.config.views...)
}
