package sketch

import (
	"math/bits"
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
// to [ExactLimit] distinct values, then keeps 23-bit fingerprints (sparse,
// 0.024% relative standard error) while they fit in 16 KiB, about 7,000
// values, and then turns, for good, into a dense HyperLogLog sketch of
// precision 14 (0.81% standard error in 16 KiB).
//
// The zero value is an empty set ready to use. A Set must not be copied after
// first use; use [Set.Clone]. All methods are safe for concurrent use; only
// [Set.Reset] and [Set.UnmarshalBinary] replace the contents, and an Insert
// or Merge racing with them may be lost (but never corrupts the set).
type Set struct {
	dense  atomic.Pointer[registers]   // non-nil once dense
	packed atomic.Pointer[packedTable] // second sparse tier; nil otherwise
	sparse atomic.Pointer[sparseTable] // first sparse tier; nil otherwise
	table  atomic.Pointer[table]       // exact mode; nil when empty, sparse or dense
	zero   atomic.Bool                 // exact mode: hash 0 is a member
	n      atomic.Uint32               // exact and first sparse tier: number of members
	mu     sync.Mutex                  // serialises exact and sparse writers and mode changes

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
// ([Unknown]: a sparse set already held h's fingerprint, or a dense set had
// no register to raise). It does not allocate except when an exact set
// grows its table or a set changes mode.
func (s *Set) Insert(h uint64) Outcome {
	if d := s.dense.Load(); d != nil {
		if d.insert(h) {
			s.changed()
			return Added
		}
		return Unknown
	}
	if pk := s.packed.Load(); pk != nil {
		f, rho := fingerprint(h)
		if found, ok := pk.contains(packedOf(f), rho); found && ok {
			return Unknown
		}
	} else if sp := s.sparse.Load(); sp != nil {
		// Most fingerprints sit in the first eight slots of their first
		// bucket: look there first.
		f := uint32(h >> (64 - SparseBits))
		if f&tailMask != 0 {
			w, p := &sp.w[f>>remBits%sparseBuckets], uint64(entryFlag|f&remMask)*lanes
			x, y := w[0].Load()^p, w[1].Load()^p
			if ((x-lanes)&^x|(y-lanes)&^y)&highs != 0 {
				return Unknown
			}
		}
		if sp.contains(f, h) {
			return Unknown
		}
	} else if h == 0 {
		if s.zero.Load() {
			return Present
		}
	} else if t := s.table.Load(); t != nil && t.contains(h) {
		return Present
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.insertLocked(h)
}

// insertLocked inserts h in any mode. Caller holds s.mu.
func (s *Set) insertLocked(h uint64) Outcome {
	if d := s.dense.Load(); d != nil {
		if d.insert(h) {
			s.changed()
			return Added
		}
		return Unknown
	}
	if s.packed.Load() != nil || s.sparse.Load() != nil {
		return s.addLocked(fingerprint(h))
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
		s.toSparseLocked()
		return s.addLocked(fingerprint(h))
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

// addLocked inserts fingerprint f whose register has rho into a set in
// either sparse tier or dense, turning a full first tier into the second
// and a full second tier dense. Caller holds s.mu.
func (s *Set) addLocked(f uint32, rho uint8) Outcome {
	if sp := s.sparse.Load(); sp != nil {
		added, ok := sp.add(f, rho)
		if ok {
			if added {
				s.n.Add(1)
				s.changed()
				return Added
			}
			if f&tailMask == 0 {
				s.changed() // its rho may have grown
			}
			return Unknown
		}
		s.toPackedLocked()
		if out := s.addPackedLocked(packedOf(f), rho); out != Added {
			// f was new to the first tier, so it is new to the set.
			s.changed()
		}
		return Added
	}
	return s.addPackedLocked(packedOf(f), rho)
}

// addPackedLocked inserts second-tier fingerprint f2 whose register has
// rho into a set in the second tier or dense, turning a full second tier
// dense. Caller holds s.mu.
func (s *Set) addPackedLocked(f2 uint32, rho uint8) Outcome {
	pk := s.packed.Load()
	if pk != nil {
		added, ok := pk.add(f2, rho)
		if ok {
			if added || f2&(1<<packedTailBits-1) == 0 {
				s.changed()
			}
			if added {
				return Added
			}
			return Unknown
		}
	}
	idx, _ := packedRegister(f2)
	if s.toDenseLocked().raise(uint64(idx), uint64(rho)) || pk != nil {
		s.changed()
		return Added
	}
	return Unknown
}

// toPackedLocked converts s from the first sparse tier (or exact) to the
// second, or dense when its fingerprints do not fit. Caller holds s.mu.
func (s *Set) toPackedLocked() {
	if s.dense.Load() != nil || s.packed.Load() != nil {
		return
	}
	if s.sparse.Load() == nil {
		s.toSparseLocked()
	}
	pk := newPacked(s.sparse.Load())
	if pk == nil {
		s.toDenseLocked()
		return
	}
	s.packed.Store(pk)
	s.sparse.Store(nil)
	s.changed()
}

// toSparseLocked converts an exact s to sparse mode. Caller holds s.mu. The
// sparse table is published before the exact table is dropped, so a reader
// that finds neither finds the sparse table under the lock. A table of 1,536
// values never fills the sparse one (it would need 17 values in two
// buckets out of 512).
func (s *Set) toSparseLocked() {
	sp := new(sparseTable)
	n := uint32(0)
	add := func(h uint64) {
		if added, _ := sp.add(fingerprint(h)); added {
			n++
		}
	}
	if t := s.table.Load(); t != nil {
		t.each(add)
	}
	if s.zero.Load() {
		add(0)
	}
	s.n.Store(n)
	s.sparse.Store(sp)
	s.table.Store(nil)
	s.zero.Store(false)
}

// toDenseLocked converts s to dense mode and returns the registers. Caller
// holds s.mu. The dense pointer is published before the table is dropped,
// so a reader that finds no table finds the registers under the lock.
func (s *Set) toDenseLocked() *registers {
	if d := s.dense.Load(); d != nil {
		return d
	}
	d := new(registers)
	if pk := s.packed.Load(); pk != nil {
		pk.each(func(f2 uint32, rho uint8) {
			idx, _ := packedRegister(f2)
			d.raise(uint64(idx), uint64(rho))
		})
	}
	if sp := s.sparse.Load(); sp != nil {
		sp.each(func(f uint32, rho uint8) {
			idx, _ := register(f)
			d.raise(uint64(idx), uint64(rho))
		})
	}
	if t := s.table.Load(); t != nil {
		t.each(func(h uint64) { d.insert(h) })
	}
	if s.zero.Load() {
		d.insert(0)
	}
	s.dense.Store(d)
	s.packed.Store(nil)
	s.sparse.Store(nil)
	s.table.Store(nil)
	s.zero.Store(false)
	return d
}

// Exact reports whether s still counts exactly.
func (s *Set) Exact() bool {
	return s.dense.Load() == nil && s.packed.Load() == nil && s.sparse.Load() == nil
}

// Sparse reports whether s is in its first sparse tier: it keeps the
// 23-bit fingerprints of [SparseBits] in a two-choice table.
func (s *Set) Sparse() bool {
	return s.sparse.Load() != nil && s.packed.Load() == nil && s.dense.Load() == nil
}

// Packed reports whether s is in its second sparse tier: it keeps the
// 21-bit fingerprints of [PackedBits], sorted and packed.
func (s *Set) Packed() bool { return s.packed.Load() != nil && s.dense.Load() == nil }

// Estimate returns the number of distinct values in s: exact in exact mode,
// linear counting of the fingerprints in sparse mode, the HyperLogLog
// estimate in dense mode. A dense estimate (about 20 µs) is cached until the
// set changes.
func (s *Set) Estimate() uint64 {
	d := s.dense.Load()
	if d == nil {
		n, pk, sp := s.n.Load(), s.packed.Load(), s.sparse.Load()
		if d = s.dense.Load(); d == nil {
			switch {
			case pk != nil:
				return packedEstimate(pk.n.Load())
			case sp != nil:
				return sparseEstimate(n)
			}
			return uint64(n)
		}
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
// may not be included. The result is what inserting every value into s
// would give, except that fingerprints do not turn back into hashes: a
// sparse other turns an exact s sparse.
//
// When any set is dense the union is dense: the others are first combined
// in a private register array, so a union of many sets costs one pass of
// atomic updates on s. Otherwise the values are added under s's lock.
func (s *Set) Merge(others ...*Set) {
	var acc [wordCount]uint64
	dense := s.dense.Load() != nil
	views := make([]view, 0, len(others))
	for _, o := range others {
		if o == nil || o == s {
			continue
		}
		v := o.snapshot()
		if v.d != nil {
			for i := range acc {
				acc[i] = maxBytes(acc[i], v.d[i].Load())
			}
			dense = true
			continue
		}
		views = append(views, v)
	}
	if dense {
		for _, v := range views {
			v.each(func(idx, rho uint64) { raiseWord(&acc, idx, rho) })
		}
		if s.denseForMerge().mergeWords(&acc) {
			s.changed()
		}
		return
	}
	if len(views) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Exact sets first, one by one, while s stays exact: a union of exact
	// sets that fits the exact tier stays exact.
	for len(views) > 0 && views[0].pk == nil && views[0].sp == nil && s.Exact() {
		if views[0].t != nil {
			views[0].t.each(func(h uint64) { s.insertLocked(h) })
		}
		if views[0].z {
			s.insertLocked(0)
		}
		views = views[1:]
	}
	if s.dense.Load() == nil {
		total := s.viewLocked().count()
		for _, v := range views {
			total += v.count()
		}
		if total > mergeDirect {
			s.mergeBulkLocked(views)
			return
		}
	}
	for _, v := range views {
		switch {
		case v.pk != nil:
			s.toPackedLocked()
			v.pk.each(func(f2 uint32, rho uint8) { s.addPackedLocked(f2, rho) })
		case v.sp != nil:
			if s.Exact() {
				s.toSparseLocked()
			}
			v.sp.each(func(f uint32, rho uint8) { s.addLocked(f, rho) })
		default:
			if v.t != nil {
				v.t.each(func(h uint64) { s.insertLocked(h) })
			}
			if v.z {
				s.insertLocked(0)
			}
		}
	}
}

// view is what a set holds at one instant: its registers, or one of its
// sparse tables, or its exact table and zero flag.
type view struct {
	d  *registers
	pk *packedTable
	sp *sparseTable
	t  *table
	z  bool
	n  uint32 // members in the exact or a sparse tier (without the zero hash)
}

// each calls fn with the register index and value of every member of a
// view that is not dense.
func (v view) each(fn func(idx, rho uint64)) {
	if v.pk != nil {
		v.pk.each(func(f2 uint32, rho uint8) {
			idx, _ := packedRegister(f2)
			fn(uint64(idx), uint64(rho))
		})
	}
	if v.sp != nil {
		v.sp.each(func(f uint32, rho uint8) {
			idx, _ := register(f)
			fn(uint64(idx), uint64(rho))
		})
	}
	if v.t != nil {
		v.t.each(func(h uint64) {
			fn(h>>(64-Precision), uint64(bits.LeadingZeros64(h<<Precision|1<<(Precision-1)))+1)
		})
	}
	if v.z {
		fn(0, maxRho)
	}
}

// raiseWord raises register i of the packed array acc to at least rho.
func raiseWord(acc *[wordCount]uint64, i, rho uint64) {
	sh := (i & 7) * 8
	if (acc[i>>3]>>sh)&0xff < rho {
		acc[i>>3] = acc[i>>3]&^(0xff<<sh) | rho<<sh
	}
}

// snapshot returns what o holds now. A second-tier table is read under
// o's lock, as its writers move entries.
func (o *Set) snapshot() view {
	for {
		if d := o.dense.Load(); d != nil {
			return view{d: d}
		}
		if o.packed.Load() != nil {
			o.mu.Lock()
			v := view{d: o.dense.Load(), pk: o.packed.Load()}
			if v.pk != nil {
				v.pk = v.pk.clone()
				v.n = v.pk.n.Load()
			}
			o.mu.Unlock()
			if v.d != nil || v.pk != nil {
				return v
			}
			continue
		}
		if sp := o.sparse.Load(); sp != nil {
			n := o.n.Load()
			if o.dense.Load() == nil && o.packed.Load() == nil {
				return view{sp: sp, n: n}
			}
			continue // o changed tier meanwhile
		}
		t, z, n := o.table.Load(), o.zero.Load(), o.n.Load()
		if o.Exact() {
			if z {
				n-- // counted by z
			}
			return view{t: t, z: z, n: n}
		}
		// o changed tier meanwhile and may have dropped its table.
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
	s.replaceLocked(view{}, 0)
}

// replaceLocked replaces the contents of s with v, n members in the exact
// or first sparse tier. Caller holds s.mu.
func (s *Set) replaceLocked(v view, n uint32) {
	s.table.Store(v.t)
	s.zero.Store(v.z)
	s.n.Store(n)
	s.sparse.Store(v.sp)
	s.packed.Store(v.pk)
	s.dense.Store(v.d)
	s.changed()
}

// SizeBytes returns the memory s holds, in bytes: the struct plus its hash
// table, its sparse table or its register array.
func (s *Set) SizeBytes() int {
	n := int(unsafe.Sizeof(*s))
	if s.dense.Load() != nil {
		return n + int(unsafe.Sizeof(registers{}))
	}
	if s.packed.Load() != nil {
		return n + int(unsafe.Sizeof(packedTable{}))
	}
	if s.sparse.Load() != nil {
		return n + int(unsafe.Sizeof(sparseTable{}))
	}
	if t := s.table.Load(); t != nil {
		n += int(unsafe.Sizeof(*t)) + 8*len(t.slots)
	}
	return n
}
