package redisstate

import (
	"math"
	"sync"
	"sync/atomic"
)

// ring holds the keys of the latest n periods (or days) of an activity,
// indexed by period index modulo n, as the recorder's own ring holds its
// figures. The newest index seen is top; an index at or below top-n is out
// of the ring. Lookups of a live entry take no lock; creating an entry,
// and evicting the entries that a new top pushes out, take mu.
type ring[T any] struct {
	n     int64
	slots []atomic.Pointer[entry[T]]
	top   atomic.Int64
	mu    sync.Mutex
	init  func(index int64, v *T)
}

// entry is the state of one index.
type entry[T any] struct {
	index int64
	v     T
}

// noTop is the top of a ring that holds nothing yet.
const noTop = math.MinInt64 / 2

func newRing[T any](n int, init func(int64, *T)) *ring[T] {
	r := &ring[T]{n: int64(n), slots: make([]atomic.Pointer[entry[T]], n), init: init}
	r.top.Store(noTop)
	return r
}

func (r *ring[T]) pos(i int64) int64 {
	p := i % r.n
	if p < 0 {
		p += r.n
	}
	return p
}

// get returns the entry of index i, creating it when i is within the ring
// (or newer than top, which then moves), and nil when i is out of it.
func (r *ring[T]) get(i int64) *entry[T] {
	if e := r.slots[r.pos(i)].Load(); e != nil && e.index == i {
		return e
	}
	return r.getSlow(i)
}

// lookup returns the entry of index i, or nil; it creates nothing.
func (r *ring[T]) lookup(i int64) *entry[T] {
	if e := r.slots[r.pos(i)].Load(); e != nil && e.index == i && i > r.top.Load()-r.n {
		return e
	}
	return nil
}

func (r *ring[T]) getSlow(i int64) *entry[T] {
	r.mu.Lock()
	defer r.mu.Unlock()
	top := r.top.Load()
	if i <= top-r.n {
		return nil
	}
	p := r.pos(i)
	if e := r.slots[p].Load(); e != nil {
		if e.index == i {
			return e
		}
		if e.index > i {
			return nil
		}
	}
	e := &entry[T]{index: i}
	if r.init != nil {
		r.init(i, &e.v)
	}
	r.slots[p].Store(e)
	if i > top {
		r.top.Store(i)
		for j := range r.slots {
			if old := r.slots[j].Load(); old != nil && old.index <= i-r.n {
				r.slots[j].Store(nil)
			}
		}
	}
	return e
}

// each calls fn for every live entry of the ring whose newest index is
// top, oldest first.
func (r *ring[T]) each(top int64, fn func(*entry[T])) {
	if top == noTop {
		return
	}
	for i := top - r.n + 1; i <= top; i++ {
		if e := r.slots[r.pos(i)].Load(); e != nil && e.index == i {
			fn(e)
		}
	}
}
