// Package ring holds the state of the latest n periods (or days) of an
// activity, indexed by period index modulo n. Package customer keeps its
// figures in it, and customer/redisstate the Redis keys of the same
// periods.
package ring

import (
	"math"
	"sync"
	"sync/atomic"
)

// Ring holds the state of the latest n periods (or days), indexed by
// period index modulo n. The newest index seen is the top; an index at or
// below top-n is out of the ring. Lookups of a live entry take no lock;
// creating an entry, and evicting the entries that a new top pushes out,
// take mu.
type Ring[T any] struct {
	n     int64
	slots []atomic.Pointer[Entry[T]]
	top   atomic.Int64
	mu    sync.Mutex
	init  func(index int64, v *T)
}

// Entry is the state of one index.
type Entry[T any] struct {
	Index int64
	V     T
}

// NoTop is the top of a ring that holds nothing yet.
const NoTop = math.MinInt64 / 2

// New returns a ring of n entries; init, when not nil, sets up the state
// of each entry as it is created.
func New[T any](n int, init func(index int64, v *T)) *Ring[T] {
	r := &Ring[T]{n: int64(n), slots: make([]atomic.Pointer[Entry[T]], n), init: init}
	r.top.Store(NoTop)
	return r
}

// Len is the number of indexes the ring holds.
func (r *Ring[T]) Len() int64 { return r.n }

// Top is the newest index seen, or NoTop.
func (r *Ring[T]) Top() int64 { return r.top.Load() }

func (r *Ring[T]) pos(i int64) int64 {
	p := i % r.n
	if p < 0 {
		p += r.n
	}
	return p
}

// Get returns the entry of index i, creating it when i is within the ring
// (or newer than the top, which then moves), and nil when i is out of it.
func (r *Ring[T]) Get(i int64) *Entry[T] {
	if e := r.slots[r.pos(i)].Load(); e != nil && e.Index == i {
		return e
	}
	return r.getSlow(i)
}

// Lookup returns the entry of index i, or nil; it creates nothing.
func (r *Ring[T]) Lookup(i int64) *Entry[T] {
	if e := r.slots[r.pos(i)].Load(); e != nil && e.Index == i && i > r.top.Load()-r.n {
		return e
	}
	return nil
}

func (r *Ring[T]) getSlow(i int64) *Entry[T] {
	r.mu.Lock()
	defer r.mu.Unlock()
	top := r.top.Load()
	if i <= top-r.n {
		return nil
	}
	p := r.pos(i)
	if e := r.slots[p].Load(); e != nil {
		if e.Index == i {
			return e
		}
		if e.Index > i {
			return nil
		}
	}
	e := &Entry[T]{Index: i}
	if r.init != nil {
		r.init(i, &e.V)
	}
	r.slots[p].Store(e)
	if i > top {
		r.top.Store(i)
		// Drop what the new top pushed out, so its memory is freed.
		for j := range r.slots {
			if old := r.slots[j].Load(); old != nil && old.Index <= i-r.n {
				r.slots[j].Store(nil)
			}
		}
	}
	return e
}

// Each calls fn for every live entry of the ring whose newest index is
// top, oldest first.
func (r *Ring[T]) Each(top int64, fn func(*Entry[T])) {
	if top == NoTop {
		return
	}
	for i := top - r.n + 1; i <= top; i++ {
		if e := r.slots[r.pos(i)].Load(); e != nil && e.Index == i {
			fn(e)
		}
	}
}
