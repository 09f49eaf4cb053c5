package sketch

import (
	"math/bits"
	"sync"
)

// mergeDirect is the largest union, counted as the sum of its parts, that
// Merge builds by adding the members one by one: it fits the first sparse
// tier (6,600 fingerprints at least), whose inserts are cheap. Larger ones
// are built in bulk: added one by one, a union of 30 daily sets of 3,000
// users took 28 ms, most of it moving entries of the second sparse tier.
const mergeDirect = 6000

// Bitmaps over every first-tier and second-tier fingerprint, to find the
// distinct fingerprints of a union in one pass. Each is cleared after use.
var (
	bits23 = sync.Pool{New: func() any { return new([1 << (SparseBits - 6)]uint64) }}
	bits21 = sync.Pool{New: func() any { return new([1 << (PackedBits - 6)]uint64) }}
)

// count returns an upper bound of the members of a view that is not
// dense.
func (v view) count() int {
	n := int(v.n)
	if v.z {
		n++
	}
	return n
}

// each23 calls fn with the first-tier fingerprint and register value of
// every member of an exact or first-tier view.
func (v view) each23(fn func(f uint32, rho uint8)) {
	if v.sp != nil {
		v.sp.each(fn)
	}
	if v.t != nil {
		v.t.each(func(h uint64) { fn(fingerprint(h)) })
	}
	if v.z {
		fn(fingerprint(0))
	}
}

// each21 calls fn with the second-tier fingerprint and register value of
// every member of a view that is not dense.
func (v view) each21(fn func(f2 uint32, rho uint8)) {
	if v.pk != nil {
		v.pk.each(fn)
	}
	v.each23(func(f uint32, rho uint8) { fn(packedOf(f), rho) })
}

// mergeBulkLocked replaces the contents of s, exact or sparse, with the
// union of s and views, built in bulk: the distinct fingerprints found
// with a bitmap, then the first sparse tier when they fit in it, else the
// second, else dense registers. Caller holds s.mu.
func (s *Set) mergeBulkLocked(views []view) {
	views = append(views, s.viewLocked())
	// One cheap pass first: the registers. When their estimate is well
	// above what the sparse tiers hold (their error is 0.6% there), the
	// union is dense.
	d := denseOf(views)
	if d.estimate() > PackedLimit*11/10 {
		s.replaceLocked(view{d: d}, 0)
		return
	}
	packed := false
	for _, v := range views {
		packed = packed || v.pk != nil
	}
	if !packed {
		bm := bits23.Get().(*[1 << (SparseBits - 6)]uint64)
		defer bits23.Put(bm)
		defer clear(bm[:])
		side := map[uint32]uint8{} // the largest register value of a zero-tail fingerprint
		d23 := 0
		for _, v := range views {
			v.each23(func(f uint32, rho uint8) {
				if w := &bm[f/64]; *w&(1<<(f%64)) == 0 {
					*w |= 1 << (f % 64)
					d23++
				}
				if f&tailMask == 0 {
					side[f] = max(side[f], rho)
				}
			})
		}
		if d23 > PackedLimit && distinct21(bm) > PackedLimit {
			s.replaceLocked(view{d: d}, 0)
			return
		}
		each := setBits(bm[:], register, side)
		sp, n := new(sparseTable), uint32(0)
		fits := d23 <= sparseBuckets*bucketSlots
		if fits {
			each(func(f uint32, rho uint8) bool {
				var added bool
				if added, fits = sp.add(f, rho); added {
					n++
				}
				return fits
			})
		}
		if fits {
			s.replaceLocked(view{sp: sp}, n)
			return
		}
		if pk := buildPacked(func(yield func(f2 uint32, rho uint8) bool) {
			each(func(f uint32, rho uint8) bool { return yield(packedOf(f), rho) })
		}); pk != nil {
			s.replaceLocked(view{pk: pk}, 0)
			return
		}
		s.replaceLocked(view{d: d}, 0)
		return
	}
	bm := bits21.Get().(*[1 << (PackedBits - 6)]uint64)
	defer bits21.Put(bm)
	defer clear(bm[:])
	side := map[uint32]uint8{}
	for _, v := range views {
		v.each21(func(f2 uint32, rho uint8) {
			bm[f2/64] |= 1 << (f2 % 64)
			if f2&(1<<packedTailBits-1) == 0 {
				side[f2] = max(side[f2], rho)
			}
		})
	}
	if pk := buildPacked(setBits(bm[:], packedRegister, side)); pk != nil {
		s.replaceLocked(view{pk: pk}, 0)
		return
	}
	s.replaceLocked(view{d: d}, 0)
}

// setBits returns the sequence of the fingerprints set in bm, ascending,
// with their register values: the one a fingerprint determines (reg), else
// the one side keeps for it.
func setBits(bm []uint64, reg func(f uint32) (idx uint32, rho uint8), side map[uint32]uint8) func(yield func(f uint32, rho uint8) bool) {
	return func(yield func(f uint32, rho uint8) bool) {
		for i, w := range bm {
			for ; w != 0; w &= w - 1 {
				f := uint32(i*64 + bits.TrailingZeros64(w))
				_, rho := reg(f)
				if rho == 0 {
					rho = side[f]
				}
				if !yield(f, rho) {
					return
				}
			}
		}
	}
}

// distinct21 returns the number of second-tier fingerprints of the
// first-tier ones set in bm: its non-zero groups of four bits.
func distinct21(bm *[1 << (SparseBits - 6)]uint64) int {
	n := 0
	for _, w := range bm {
		w |= w >> 1
		w |= w >> 2
		n += bits.OnesCount64(w & 0x1111111111111111)
	}
	return n
}

// denseOf returns the registers of the union of views that are not dense.
func denseOf(views []view) *registers {
	var acc [wordCount]uint64
	for _, v := range views {
		v.each(func(idx, rho uint64) { raiseWord(&acc, idx, rho) })
	}
	d := new(registers)
	d.mergeWords(&acc)
	return d
}

// viewLocked returns what s holds, which no writer changes: the caller
// holds s.mu and s is not dense.
func (s *Set) viewLocked() view {
	v := view{pk: s.packed.Load(), sp: s.sparse.Load(), t: s.table.Load(), z: s.zero.Load(), n: s.n.Load()}
	if v.pk != nil {
		v.n = v.pk.n.Load()
	}
	return v
}
