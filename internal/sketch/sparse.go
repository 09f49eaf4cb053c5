package sketch

import (
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"
)

const (
	// SparseBits is the length of the fingerprint a sparse [Set] keeps of
	// each hash: its top 23 bits. Two users collide with probability 2^-23,
	// and linear counting over 2^23 virtual registers has a relative standard
	// error of 1/sqrt(2^24) = 0.024% whatever the count.
	SparseBits = 23

	// SparseBytes is the size of a sparse table: 512 buckets of 16 slots of
	// two bytes, the size of the dense register array.
	SparseBytes = sparseBuckets * bucketSlots * 2

	sparseBuckets = 1 << bucketBits
	bucketBits    = 9
	bucketSlots   = 16
	bucketWords   = bucketSlots / 4
	sparseWords   = sparseBuckets * bucketWords
	remBits       = SparseBits - bucketBits          // 14 bits kept in a slot
	tailBits      = SparseBits - Precision           // 9 bits after the dense index
	remMask       = 1<<remBits - 1                   //
	tailMask      = 1<<tailBits - 1                  //
	sparseM       = float64(uint64(1) << SparseBits) // virtual registers

	// firstBucketSlots is how full a first bucket gets before a
	// fingerprint may go to its second one. Measured over 20 sets of
	// random hashes: 12 gives a present-user lookup of 5.7 ns and a
	// capacity of 6,600 to 7,400; the less full bucket always (0) 11 ns and
	// 6,900 to 7,500; 14, 6.9 ns and 5,700 to 7,000.
	firstBucketSlots = 12

	entryFlag = 0x8000 // slot holds a fingerprint
	altFlag   = 0x4000 // ... stored in its second bucket

	lanes = 0x0001000100010001
	highs = 0x8000800080008000
)

// sparseTable is the sparse tier of a Set: the fingerprints f = h>>41 of
// its hashes in a two-choice bucketed hash table of 512 buckets x 16 slots
// of 16 bits (16 KiB), four slots packed little-endian in each 64-bit word.
// The bucket number is implicit, so a 16-bit slot holds a 23-bit
// fingerprint:
//
//	b1 = f >> 14, rem = f & 0x3fff, b2 = b1 ^ (1 + rem*511>>14)
//	slot in b1: 0x8000 | rem
//	slot in b2: 0xc000 | rem
//
// A fingerprint goes to its first bucket while that holds fewer than 12
// slots, then to the less full of its two (the first on a tie), and the
// slots of a bucket fill from the first; 0 marks an empty slot. So most
// fingerprints sit in their first bucket and most lookups read one bucket
// of 32 bytes, while the second choice still fills the table to about 85%.
//
// The dense register of a hash is its top 14 bits and rho, one plus the
// leading zeros of the 50 bits after them. The fingerprint holds the first
// 9 of those bits; when they are all zero (one hash in 512), rho needs more
// bits than the fingerprint has, so a rho slot in the same bucket keeps it:
//
//	alt<<11 | (rem>>9)<<6 | rho   (high bit clear, rho in 10..51)
//
// so a sparse set turns into exactly the registers the hashes themselves
// would have set. The table is full, and the set turns dense, when neither
// bucket has room (about 7,000 fingerprints).
//
// Slots only go from 0 to a value, except a rho slot, which only grows;
// readers use atomic loads and writers hold Set.mu.
type sparseTable struct {
	w [sparseBuckets][bucketWords]atomic.Uint64
}

// fingerprint returns the sparse fingerprint of h and the rho of its dense
// register.
func fingerprint(h uint64) (f uint32, rho uint8) {
	return uint32(h >> (64 - SparseBits)), uint8(bits.LeadingZeros64(h<<Precision|1<<(Precision-1)) + 1)
}

// buckets returns the two buckets of fingerprint f and its remainder.
func buckets(f uint32) (b1, b2, rem uint32) {
	b1, rem = f>>remBits, f&remMask
	return b1, b1 ^ partner(rem), rem
}

// partner returns what the second bucket of a fingerprint with remainder
// rem differs from its first by: 1 + rem*511>>14, in 1..511.
func partner(rem uint32) uint32 { return 1 + rem*(sparseBuckets-1)>>remBits }

// register returns the dense register index of f and, when f's tail
// determines it, its rho (0 when it does not: the tail is zero).
func register(f uint32) (idx uint32, rho uint8) {
	idx = f >> tailBits
	if t := f & tailMask; t != 0 {
		rho = uint8(tailBits - bits.Len32(t) + 1)
	}
	return idx, rho
}

// find returns the slot of code in bucket b, or -1.
func (t *sparseTable) find(b uint32, code uint16) int {
	pat := uint64(code) * lanes
	for i := range bucketWords {
		w := t.w[b%sparseBuckets][i].Load()
		if x := w ^ pat; (x-lanes)&^x&highs != 0 {
			return i*4 + bits.TrailingZeros64((x-lanes)&^x&highs)/16
		}
		if (w-lanes)&^w&highs != 0 {
			return -1 // an empty slot: the rest are empty too
		}
	}
	return -1
}

// slot returns slot j of bucket b.
func (t *sparseTable) slot(b uint32, j int) uint16 {
	return uint16(t.w[b%sparseBuckets][j/4%bucketWords].Load() >> (16 * (j % 4)))
}

// set writes slot j of bucket b. Caller holds Set.mu.
func (t *sparseTable) set(b uint32, j int, v uint16) {
	w := &t.w[b%sparseBuckets][j/4%bucketWords]
	sh := 16 * (j % 4)
	w.Store(w.Load()&^(0xffff<<sh) | uint64(v)<<sh)
}

// used returns the number of filled slots of bucket b.
func (t *sparseTable) used(b uint32) int {
	for j := range bucketSlots {
		if t.slot(b, j) == 0 {
			return j
		}
	}
	return bucketSlots
}

// rhoSlot returns the slot of the rho of the entry (alt, rem) in bucket b,
// or -1.
func (t *sparseTable) rhoSlot(b uint32, alt bool, rem uint32) int {
	key := uint16(rem>>tailBits) << 6
	if alt {
		key |= 1 << 11
	}
	for j := range bucketSlots {
		v := t.slot(b, j)
		if v == 0 {
			break
		}
		if v&entryFlag == 0 && v&^0x3f == key {
			return j
		}
	}
	return -1
}

// locate returns where fingerprint f is: its bucket, whether that is its
// second one, and its slot, or slot -1 when f is not in t.
func (t *sparseTable) locate(f uint32) (b uint32, alt bool, j int) {
	b1, b2, rem := buckets(f)
	if j = t.find(b1, entryFlag|uint16(rem)); j >= 0 {
		return b1, false, j
	}
	return b2, true, t.find(b2, entryFlag|altFlag|uint16(rem))
}

// contains reports whether the fingerprint f of hash h is in t with a
// register at least h's. Safe without the lock. It reads a bucket whole,
// without a branch per slot, and the second bucket only when the first
// lacks f.
func (t *sparseTable) contains(f uint32, h uint64) bool {
	b1, rem := f>>remBits, f&remMask
	if !hasCode(&t.w[b1%sparseBuckets], uint64(entryFlag|rem)*lanes) &&
		!hasCode(&t.w[(b1^partner(rem))%sparseBuckets], uint64(entryFlag|altFlag|rem)*lanes) {
		return false
	}
	if f&tailMask != 0 {
		return true
	}
	_, rho := fingerprint(h)
	b, alt, _ := t.locate(f)
	r := t.rhoSlot(b, alt, rem)
	return r >= 0 && uint8(t.slot(b, r)&0x3f) >= rho
}

// hasCode reports whether bucket w holds the code repeated in each lane of
// p, reading its four words without a branch.
func hasCode(w *[bucketWords]atomic.Uint64, p uint64) bool {
	var m uint64
	for i := 0; i < bucketWords; i += 2 {
		x, y := w[i].Load()^p, w[i+1].Load()^p
		m |= (x-lanes)&^x | (y-lanes)&^y
	}
	return m&highs != 0
}

// add inserts f with rho (used when f's tail is zero). It reports whether
// f was new, and ok false when f is new and neither of its buckets has
// room; t is then unchanged. Caller holds Set.mu.
func (t *sparseTable) add(f uint32, rho uint8) (added, ok bool) {
	zeroTail := f&tailMask == 0
	if b, alt, j := t.locate(f); j >= 0 {
		if zeroTail {
			if r := t.rhoSlot(b, alt, f&remMask); r >= 0 && uint8(t.slot(b, r)&0x3f) < rho {
				t.set(b, r, t.slot(b, r)&^0x3f|uint16(rho))
			}
		}
		return false, true
	}
	need := 1
	if zeroTail {
		need = 2
	}
	b1, b2, rem := buckets(f)
	n1, n2 := t.used(b1), t.used(b2)
	b, alt, n := b1, false, n1
	if n1 >= firstBucketSlots && n2 < n1 || bucketSlots-n1 < need {
		b, alt, n = b2, true, n2
	}
	if bucketSlots-n < need {
		return false, false
	}
	code := entryFlag | uint16(rem)
	if alt {
		code |= altFlag
	}
	if zeroTail {
		key := uint16(rem>>tailBits)<<6 | uint16(rho)
		if alt {
			key |= 1 << 11
		}
		t.set(b, n, key)
		n++
	}
	t.set(b, n, code)
	return true, true
}

// each calls fn with every fingerprint of t and the rho of its register.
// Safe without the lock.
func (t *sparseTable) each(fn func(f uint32, rho uint8)) {
	for b := range uint32(sparseBuckets) {
		for j := range bucketSlots {
			v := t.slot(b, j)
			if v == 0 {
				break
			}
			if v&entryFlag == 0 {
				continue
			}
			rem, alt := uint32(v&remMask), v&altFlag != 0
			b1 := b
			if alt {
				b1 = b ^ partner(rem)
			}
			f := b1<<remBits | rem
			_, rho := register(f)
			if rho == 0 {
				rho = tailBits + 1 // the least a zero tail allows
				if r := t.rhoSlot(b, alt, rem); r >= 0 {
					rho = uint8(t.slot(b, r) & 0x3f)
				}
			}
			fn(f, rho)
		}
	}
}

// sparseEstimate is linear counting of n fingerprints over 2^23 virtual
// registers: it corrects for the expected fingerprint collisions.
func sparseEstimate(n uint32) uint64 {
	return uint64(-sparseM*math.Log1p(-float64(n)/sparseM) + 0.5)
}

// appendTo appends the slots, two bytes each (little-endian), bucket by
// bucket.
func (t *sparseTable) appendTo(b []byte) []byte {
	for i := range sparseWords {
		w := t.w[i/bucketWords][i%bucketWords].Load()
		b = append(b, byte(w), byte(w>>8), byte(w>>16), byte(w>>24),
			byte(w>>32), byte(w>>40), byte(w>>48), byte(w>>56))
	}
	return b
}

// Fingerprint returns the fingerprint a sparse [Set] keeps of the hash h
// (its top [SparseBits] bits) and the value of h's dense register (one plus
// the leading zeros of the 50 bits after the top 14). A store that keeps a
// sparse table of its own (a Redis string) inserts these two.
func Fingerprint(h uint64) (f uint32, rho uint8) { return fingerprint(h) }

// NewSparse returns an empty set that starts in the sparse tier instead of
// the exact one: its counts are those of a table filled from empty, as a
// store that keeps only fingerprints fills it.
func NewSparse() *Set {
	s := new(Set)
	s.sparse.Store(new(sparseTable))
	return s
}

// FromSparse returns the sparse set whose table is b: the slot bytes of a
// sparse encoding (see [Set.MarshalBinary]) without its header. A shorter
// b is padded with empty slots, so a store may keep a table only as long
// as its last written slot. Anything that is not a valid table returns an
// error wrapping [ErrCorrupt].
func FromSparse(b []byte) (*Set, error) {
	if len(b) > SparseBytes {
		return nil, fmt.Errorf("%w: sparse table of %d bytes, want at most %d", ErrCorrupt, len(b), SparseBytes)
	}
	if len(b) < SparseBytes {
		b = append(append(make([]byte, 0, SparseBytes), b...), make([]byte, SparseBytes-len(b))...)
	}
	sp, n, err := decodeSparse(b)
	if err != nil {
		return nil, err
	}
	s := new(Set)
	s.n.Store(n)
	s.sparse.Store(sp)
	return s, nil
}
