package operational

import (
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// The orNop helpers replace an instrument a provider failed to create with
// a no-op one, so that recorders stay usable after a partial failure.

func orNopFloat64Histogram(h metric.Float64Histogram) metric.Float64Histogram {
	if h == nil {
		return noop.Float64Histogram{}
	}
	return h
}

func orNopInt64Histogram(h metric.Int64Histogram) metric.Int64Histogram {
	if h == nil {
		return noop.Int64Histogram{}
	}
	return h
}

func orNopInt64Counter(c metric.Int64Counter) metric.Int64Counter {
	if c == nil {
		return noop.Int64Counter{}
	}
	return c
}
