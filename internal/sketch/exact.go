package sketch

import "sync/atomic"

const (
	// ExactLimit is the largest number of distinct values a [Set] counts
	// exactly. Its hash table then has 2048 slots of 8 bytes, 16 KiB, the
	// size of the dense register array; the next new value converts the set
	// to dense, so an exact set never uses more memory than a dense one.
	ExactLimit = maxSlots * 3 / 4

	maxSlots = DenseBytes / 8
	minSlots = 8
)

// table is an open-addressing hash set of non-zero hashes with linear
// probing; 0 marks an empty slot. Slots only ever go from 0 to a hash, so a
// reader that probes with atomic loads and meets h or an empty slot has a
// correct answer for some instant. Writers hold Set.mu.
type table struct {
	slots []uint64
	mask  uint64
	used  int // written under Set.mu only
}

func newTable(n int) *table {
	return &table{slots: make([]uint64, n), mask: uint64(n - 1)}
}

// contains reports whether h (non-zero) is in t. Safe without the lock.
func (t *table) contains(h uint64) bool {
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		switch atomic.LoadUint64(&t.slots[i]) {
		case h:
			return true
		case 0:
			return false
		}
	}
}

// add inserts h (non-zero, not in t, room left). Caller holds Set.mu.
func (t *table) add(h uint64) {
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		if atomic.LoadUint64(&t.slots[i]) == 0 {
			atomic.StoreUint64(&t.slots[i], h)
			t.used++
			return
		}
	}
}

// full reports whether one more value would exceed the 3/4 load factor.
func (t *table) full() bool { return (t.used+1)*4 > len(t.slots)*3 }

// grown returns a copy of t with twice the slots.
func (t *table) grown() *table {
	g := newTable(len(t.slots) * 2)
	t.each(g.add)
	return g
}

// each calls fn for every hash in t. Safe without the lock.
func (t *table) each(fn func(uint64)) {
	for i := range t.slots {
		if v := atomic.LoadUint64(&t.slots[i]); v != 0 {
			fn(v)
		}
	}
}
