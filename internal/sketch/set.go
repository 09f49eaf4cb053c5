package sketch

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// Outcome says what [Set.Insert] learned about the inserted value.
type Outcome uint8

const (
	// Unknown: the set is dense and no register changed, so the value may or
	// may not have been inserted before.
	Unknown Outcome = iota
	// Added: the value was certainly not in the set before.
	Added
	// Present: the value was certainly in the set already (exact mode).
	Present
)

func (o Outcome) String() string {
	switch o {
	case Added:
		return "added"
	case Present:
		return "present"
	default:
		return "unknown"
	}
}

// Set is a distinct-count set of 64-bit hashes (see [Hash]). It is exact up
// to [ExactLimit] distinct values and then turns, for good, into a dense
// HyperLogLog sketch of precision 14 (0.81% standard error in 16 KiB).
//
// The zero value is an empty set ready to use. A Set must not be copied after
// first use; use [Set.Clone]. All methods are safe for concurrent use; only
// [Set.Reset] and [Set.UnmarshalBinary] replace the contents, and an Insert
// or Merge racing with them may be lost (but never corrupts the set).
type Set struct {
	dense atomic.Pointer[registers] // non-nil once dense
	table atomic.Pointer[table]     // exact mode; nil when empty or dense
	zero  atomic.Bool               // exact mode: hash 0 is a member
	n     atomic.Uint32             // exact mode: number of members
	mu    sync.Mutex                // serialises exact-mode writers and mode changes

	_ [64]byte // keep exact-mode writes off the line read by Insert

	// gen is the generation (bits 1..63) and a dirty flag (bit 0). A change
	// sets the flag unless it is already set, so a stream of changes between
	// two collections costs one CAS and then plain loads of a shared cache
	// line; Generation clears the flag and advances the generation.
	gen atomic.Uint64

	estMu  sync.Mutex
	estGen uint64
	est    uint64
	estOK  bool
}

// New returns an empty set; new(Set) and a zero Set are equivalent.
func New() *Set { return new(Set) }

// Insert adds the hash h and reports whether h was certainly new
// ([Added]), certainly present ([Present], exact mode), or unknown
// ([Unknown], dense mode and no register changed). It does not allocate
// except when an exact set grows its table or turns dense.
func (s *Set) Insert(h uint64) Outcome {
	if d := s.dense.Load(); d != nil {
		if d.insert(h) {
			s.changed()
			return Added
		}
		return Unknown
	}
	if h == 0 {
		if s.zero.Load() {
			return Present
		}
	} else if t := s.table.Load(); t != nil && t.contains(h) {
		return Present
	}
	return s.insertSlow(h)
}

func (s *Set) insertSlow(h uint64) Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.dense.Load(); d != nil {
		if d.insert(h) {
			s.changed()
			return Added
		}
		return Unknown
	}
	t := s.table.Load()
	if h == 0 {
		if s.zero.Load() {
			return Present
		}
	} else if t != nil && t.contains(h) {
		return Present
	}
	switch {
	case s.n.Load() >= ExactLimit:
		s.toDenseLocked().insert(h)
		s.changed()
		return Added
	case h == 0:
		s.zero.Store(true)
	default:
		if t == nil {
			t = newTable(minSlots)
			s.table.Store(t)
		} else if t.full() {
			t = t.grown()
			s.table.Store(t)
		}
		t.add(h)
	}
	s.n.Add(1)
	s.changed()
	return Added
}

// toDenseLocked converts s to dense mode and returns the registers. Caller
// holds s.mu. The dense pointer is published before the table is dropped,
// so a reader that finds no table finds the registers under the lock.
func (s *Set) toDenseLocked() *registers {
	if d := s.dense.Load(); d != nil {
		return d
	}
	d := new(registers)
	if t := s.table.Load(); t != nil {
		t.each(func(h uint64) { d.insert(h) })
	}
	if s.zero.Load() {
		d.insert(0)
	}
	s.dense.Store(d)
	s.table.Store(nil)
	s.zero.Store(false)
	return d
}

// Exact reports whether s still counts exactly.
func (s *Set) Exact() bool { return s.dense.Load() == nil }

// Estimate returns the number of distinct values in s: exact in exact mode,
// the HyperLogLog estimate in dense mode. A dense estimate (about 20 µs) is
// cached until the set changes.
func (s *Set) Estimate() uint64 {
	n := s.n.Load()
	d := s.dense.Load()
	if d == nil {
		return uint64(n)
	}
	g := s.Generation() // before reading the registers
	s.estMu.Lock()
	defer s.estMu.Unlock()
	if s.estOK && s.estGen == g {
		return s.est
	}
	s.est, s.estGen, s.estOK = d.estimate(), g, true
	return s.est
}

// Generation returns a number that is larger after any change to s that
// happened before the call, and equal when nothing changed. A caller that
// caches a figure derived from sets (a union's estimate) calls Generation
// first, then reads the sets, and recomputes only when the sum of the
// generations moved.
func (s *Set) Generation() uint64 {
	for {
		g := s.gen.Load()
		if g&1 == 0 {
			return g
		}
		if s.gen.CompareAndSwap(g, g+1) {
			return g + 1
		}
	}
}

// changed marks s as changed; call it after the change.
func (s *Set) changed() {
	for {
		g := s.gen.Load()
		if g&1 != 0 || s.gen.CompareAndSwap(g, g|1) {
			return
		}
	}
}

// Merge adds every value of each of others to s (a union). Nil sets and s
// itself are skipped. Values inserted into an other while Merge runs may or
// may not be included.
// Dense sets are first combined in a private buffer, so a union of many
// dense sets costs one pass of atomic updates on s.
func (s *Set) Merge(others ...*Set) {
	var acc [wordCount]uint64
	dense := false
	for _, o := range others {
		if o == nil || o == s {
			continue
		}
		d, t, z := o.snapshot()
		switch {
		case d != nil:
			for i := range acc {
				acc[i] = maxBytes(acc[i], d[i].Load())
			}
			dense = true
		case t != nil || z:
			if t != nil {
				t.each(func(h uint64) { s.Insert(h) })
			}
			if z {
				s.Insert(0)
			}
		}
	}
	if dense && s.denseForMerge().mergeWords(&acc) {
		s.changed()
	}
}

// snapshot returns o's registers, or its table and zero flag.
func (o *Set) snapshot() (*registers, *table, bool) {
	for {
		if d := o.dense.Load(); d != nil {
			return d, nil, false
		}
		t, z := o.table.Load(), o.zero.Load()
		if o.dense.Load() == nil {
			return nil, t, z
		}
		// o turned dense meanwhile and may have dropped its table.
	}
}

func (s *Set) denseForMerge() *registers {
	if d := s.dense.Load(); d != nil {
		return d
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.toDenseLocked()
}

// Union returns a new set holding every value of sets.
func Union(sets ...*Set) *Set {
	u := new(Set)
	u.Merge(sets...)
	return u
}

// Clone returns a copy of s.
func (s *Set) Clone() *Set { return Union(s) }

// Reset empties s and returns it to exact mode, dropping its memory.
func (s *Set) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replaceLocked(nil, nil, false, 0)
}

func (s *Set) replaceLocked(d *registers, t *table, zero bool, n uint32) {
	s.table.Store(t)
	s.zero.Store(zero)
	s.n.Store(n)
	s.dense.Store(d)
	s.changed()
}

// SizeBytes returns the memory s holds, in bytes: the struct plus its hash
// table or its register array.
func (s *Set) SizeBytes() int {
	n := int(unsafe.Sizeof(*s))
	if s.dense.Load() != nil {
		return n + int(unsafe.Sizeof(registers{}))
	}
	if t := s.table.Load(); t != nil {
		n += int(unsafe.Sizeof(*t)) + 8*len(t.slots)
	}
	return n
}
