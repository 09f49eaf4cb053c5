package operational

import (
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// maxCachedSets bounds the attribute sets one recorder caches. Every
// attribute is bounded, so the bound is only reached by an unusual mix of
// routes, methods and status codes; past it, sets are built per measurement
// (correct, but allocating).
const maxCachedSets = 1 << 14

// cowMap is a map read without locks: readers load an immutable map through
// an atomic pointer; writers copy it under a mutex. It suits small maps that
// stop growing after warm-up (routes, attribute sets).
type cowMap[K comparable, V any] struct {
	m  atomic.Pointer[map[K]V]
	mu sync.Mutex
}

func (c *cowMap[K, V]) load(k K) (V, bool) {
	if p := c.m.Load(); p != nil {
		v, ok := (*p)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// loadOrCreate returns the value for k, creating it with mk when absent and
// the map holds fewer than limit values. ok is false when the limit was hit.
func (c *cowMap[K, V]) loadOrCreate(k K, limit int, mk func() V) (v V, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var old map[K]V
	if p := c.m.Load(); p != nil {
		old = *p
	}
	if v, ok := old[k]; ok {
		return v, true
	}
	if len(old) >= limit {
		return v, false
	}
	v = mk()
	next := make(map[K]V, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[k] = v
	c.m.Store(&next)
	return v, true
}

// setCache caches measurement options keyed by a small integer that packs
// the bounded dimensions of one measurement.
type setCache struct {
	sets cowMap[uint32, []metric.RecordOption]
}

// add builds the options for key from kvs and caches them while the
// recorder holds fewer than maxCachedSets sets (n counts them); past that,
// the options are returned uncached.
func (c *setCache) add(key uint32, n *atomic.Int64, kvs []attribute.KeyValue) []metric.RecordOption {
	if n.Load() < maxCachedSets {
		o, ok := c.sets.loadOrCreate(key, maxCachedSets, func() []metric.RecordOption {
			n.Add(1)
			return recordOpts(kvs)
		})
		if ok {
			return o
		}
	}
	return recordOpts(kvs)
}

func recordOpts(kvs []attribute.KeyValue) []metric.RecordOption {
	return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(kvs...))}
}
