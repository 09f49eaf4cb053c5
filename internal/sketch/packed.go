package sketch

import (
	"math"
	"math/bits"
	"slices"
	"sync/atomic"
)

const (
	// PackedBits is the length of the fingerprint of the second sparse
	// tier: the top 21 bits of a hash. Linear counting over 2^21 virtual
	// registers has a relative standard error of 1/sqrt(2^22) = 0.049%.
	PackedBits = 21

	// PackedLimit is the most fingerprints the second sparse tier holds.
	PackedLimit = packedEntryWords * 64 / packedRemBits

	packedBuckets    = 1 << 10
	packedRemBits    = PackedBits - 10                                // 11 bits per entry
	packedTailBits   = PackedBits - Precision                         // 7 bits after the dense index
	packedSideMax    = 128                                            // fingerprints with a zero tail
	packedOffWords   = packedBuckets / 4                              // 16-bit offsets, four per word
	packedSideWords  = packedSideMax / 2                              // 32-bit side entries, two per word
	packedEntryWords = sparseWords - packedOffWords - packedSideWords // 1728
	packedM          = float64(uint64(1) << PackedBits)
)

// packedTable is the second sparse tier, which a Set enters when its
// two-choice table is full (about 7,000 fingerprints): 21-bit fingerprints,
// sorted, in 16 KiB. Their top 10 bits pick one of 1,024 buckets, whose
// start is a 16-bit offset; the other 11 bits are packed back to back, so
// the table holds [PackedLimit] = 10,053 fingerprints with no empty slot. For a
// fingerprint whose 7 bits after the dense index are zero (one in 128), a
// side entry f<<6|rho keeps the register value, so the tier still turns
// into exactly the registers of its hashes.
//
// An insert moves the entries after it by 11 bits (about 2 µs) under
// Set.mu. Readers take no lock: seq is odd while a writer changes the
// table, and a lookup that saw it change retries under the lock. Every word
// is read and written atomically.
type packedTable struct {
	seq   atomic.Uint64
	n     atomic.Uint32 // entries
	sideN atomic.Uint32 // side entries
	off   [packedOffWords]atomic.Uint64
	side  [packedSideWords]atomic.Uint64
	ent   [packedEntryWords + 1]atomic.Uint64 // the last word stays 0: a read of entry i may load word i+1
}

// packedOf returns the fingerprint of the second tier of a first-tier
// fingerprint.
func packedOf(f uint32) uint32 { return f >> (SparseBits - PackedBits) }

// packedRegister returns the dense register index of f2 and, when f2's
// tail determines it, its rho (0 when it does not).
func packedRegister(f2 uint32) (idx uint32, rho uint8) {
	idx = f2 >> packedTailBits
	if t := f2 & (1<<packedTailBits - 1); t != 0 {
		rho = uint8(packedTailBits - bits.Len32(t) + 1)
	}
	return idx, rho
}

func (p *packedTable) offset(b uint32) uint32 {
	return uint32(p.off[b/4%packedOffWords].Load()>>(16*(b%4))) & 0xffff
}

// bucketRange returns the entries of bucket b, clamped to the table so
// that a torn read never indexes out of it.
func (p *packedTable) bucketRange(b uint32) (start, end uint32) {
	n := min(p.n.Load(), PackedLimit)
	end = n
	if b+1 < packedBuckets {
		end = min(p.offset(b+1), n)
	}
	return min(p.offset(b), end), end
}

func (p *packedTable) entry(i uint32) uint32 {
	bit := packedRemBits * i
	w, sh := bit/64, bit%64
	v := p.ent[w%(packedEntryWords+1)].Load() >> sh
	if sh > 64-packedRemBits {
		v |= p.ent[(w+1)%(packedEntryWords+1)].Load() << (64 - sh)
	}
	return uint32(v) & (1<<packedRemBits - 1)
}

// setEntry writes entry i. Caller holds Set.mu with seq odd.
func (p *packedTable) setEntry(i, v uint32) {
	bit := packedRemBits * i
	w, sh := bit/64, bit%64
	const mask = 1<<packedRemBits - 1
	x := &p.ent[w]
	x.Store(x.Load()&^(mask<<sh) | uint64(v)<<sh)
	if sh > 64-packedRemBits {
		y := &p.ent[w+1]
		y.Store(y.Load()&^(mask>>(64-sh)) | uint64(v)>>(64-sh))
	}
}

// find returns the position of f2 in p, or where it would go, and whether
// it is there.
func (p *packedTable) find(f2 uint32) (uint32, bool) {
	b, rem := f2>>packedRemBits, f2&(1<<packedRemBits-1)
	start, end := p.bucketRange(b)
	// Decode the bucket as a stream: one load per word, not per entry.
	bit := packedRemBits * start
	w, sh := bit/64, bit%64
	cur, next := p.ent[w].Load(), p.ent[w+1].Load()
	for i := start; i < end; i++ {
		v := cur >> sh
		if sh > 64-packedRemBits {
			v |= next << (64 - sh)
		}
		if e := uint32(v) & (1<<packedRemBits - 1); e >= rem {
			return i, e == rem
		}
		if sh += packedRemBits; sh >= 64 {
			sh -= 64
			w++
			cur, next = next, p.ent[(w+1)%(packedEntryWords+1)].Load()
		}
	}
	return end, false
}

// Five 11-bit lanes of a 64-bit word, for comparing five entries at once.
const (
	packedLanes = 1 | 1<<11 | 1<<22 | 1<<33 | 1<<44
	packedHighs = packedLanes << (packedRemBits - 1)
)

// has reports whether f2 is in p, comparing the entries of its bucket
// five at a time. Safe without the lock (the caller checks seq).
func (p *packedTable) has(f2 uint32) bool {
	b, rem := f2>>packedRemBits, uint64(f2&(1<<packedRemBits-1))
	i, end := p.bucketRange(b)
	pat := rem * packedLanes
	for ; i < end; i += 5 {
		bit := packedRemBits * i
		w, sh := bit/64, bit%64
		// i < end <= PackedLimit (bucketRange clamps), so w+1 <= packedEntryWords.
		win := p.ent[w].Load()>>sh | p.ent[w+1].Load()<<(63-sh)<<1
		x := win ^ pat
		z := (x - packedLanes) &^ x & packedHighs
		if k := end - i; k < 5 {
			z &= 1<<(packedRemBits*k) - 1
		}
		if z != 0 {
			return true
		}
	}
	return false
}

// sideRho returns the register value kept for f2, or 0.
func (p *packedTable) sideRho(f2 uint32) uint8 {
	for i := range min(p.sideN.Load(), packedSideMax) {
		if e := uint32(p.side[i/2].Load() >> (32 * (i % 2))); e>>6 == f2 {
			return uint8(e & 0x3f)
		}
	}
	return 0
}

// contains reports whether f2 is in p with a register of at least rho,
// and ok false when a writer changed p meanwhile (the answer is then
// unknown). Safe without the lock.
func (p *packedTable) contains(f2 uint32, rho uint8) (found, ok bool) {
	s := p.seq.Load()
	if s&1 != 0 {
		return false, false
	}
	found = p.has(f2)
	if found && f2&(1<<packedTailBits-1) == 0 {
		found = p.sideRho(f2) >= rho
	}
	return found, p.seq.Load() == s
}

// add inserts f2 with rho (used when f2's tail is zero). It reports
// whether f2 was new, and ok false when f2 is new and p is full (p is then
// unchanged). Caller holds Set.mu.
func (p *packedTable) add(f2 uint32, rho uint8) (added, ok bool) {
	zeroTail := f2&(1<<packedTailBits-1) == 0
	pos, found := p.find(f2)
	if found {
		if zeroTail && p.sideRho(f2) < rho {
			p.seq.Add(1)
			p.setSide(f2, rho)
			p.seq.Add(1)
		}
		return false, true
	}
	n := p.n.Load()
	if n >= PackedLimit || zeroTail && p.sideN.Load() >= packedSideMax {
		return false, false
	}
	p.seq.Add(1)
	defer p.seq.Add(1)
	if zeroTail {
		p.setSide(f2, rho)
	}
	// Move entries pos..n-1 up by one entry, word by word from the top.
	first, last := packedRemBits*pos/64, (packedRemBits*(n+1)-1)/64
	for w := last; w > first; w-- {
		p.ent[w].Store(p.ent[w].Load()<<packedRemBits | p.ent[w-1].Load()>>(64-packedRemBits))
	}
	sh := packedRemBits * pos % 64
	old := p.ent[first].Load()
	p.ent[first].Store(old&(1<<sh-1) | old>>sh<<(sh+packedRemBits))
	p.setEntry(pos, f2&(1<<packedRemBits-1))
	for b := f2>>packedRemBits + 1; b < packedBuckets; b++ {
		x := &p.off[b/4]
		x.Store(x.Load() + 1<<(16*(b%4)))
	}
	p.n.Store(n + 1)
	return true, true
}

// setSide raises or adds the side entry of f2. Caller holds Set.mu with
// seq odd, and there is room.
func (p *packedTable) setSide(f2 uint32, rho uint8) {
	n := p.sideN.Load()
	i := uint32(0)
	for ; i < n; i++ {
		if uint32(p.side[i/2].Load()>>(32*(i%2)))>>6 == f2 {
			break
		}
	}
	x := &p.side[i/2]
	sh := 32 * (i % 2)
	x.Store(x.Load()&^(0xffffffff<<sh) | uint64(f2<<6|uint32(rho))<<sh)
	if i == n {
		p.sideN.Store(n + 1)
	}
}

// each calls fn with every fingerprint of p and the rho of its register.
// Caller holds Set.mu or owns p.
func (p *packedTable) each(fn func(f2 uint32, rho uint8)) {
	for b := range uint32(packedBuckets) {
		start, end := p.bucketRange(b)
		for i := start; i < end; i++ {
			f2 := b<<packedRemBits | p.entry(i)
			_, rho := packedRegister(f2)
			if rho == 0 {
				rho = max(p.sideRho(f2), packedTailBits+1)
			}
			fn(f2, rho)
		}
	}
}

// newPacked returns a second-tier table holding the fingerprints of sp
// with their register values, or nil when they do not fit.
func newPacked(sp *sparseTable) *packedTable {
	var fs []uint64 // f2<<8 | rho
	sp.each(func(f uint32, rho uint8) { fs = append(fs, uint64(packedOf(f))<<8|uint64(rho)) })
	slices.Sort(fs)
	return buildPacked(func(yield func(f2 uint32, rho uint8) bool) {
		for _, e := range fs {
			if !yield(uint32(e>>8), uint8(e)) {
				return
			}
		}
	})
}

// buildPacked returns a second-tier table of the fingerprints that seq
// yields in ascending order (repeats allowed: the largest register value
// of a fingerprint is kept), or nil when they do not fit.
func buildPacked(seq func(yield func(f2 uint32, rho uint8) bool)) *packedTable {
	p := new(packedTable)
	var counts [packedBuckets]uint32
	n, last, fits := uint32(0), ^uint32(0), true
	seq(func(f2 uint32, rho uint8) bool {
		if f2&(1<<packedTailBits-1) == 0 {
			if r := p.sideRho(f2); r == 0 && p.sideN.Load() >= packedSideMax {
				fits = false
				return false
			} else if r < rho {
				p.setSide(f2, rho)
			}
		}
		if f2 == last {
			return true
		}
		if n >= PackedLimit {
			fits = false
			return false
		}
		p.setEntry(n, f2&(1<<packedRemBits-1))
		counts[f2>>packedRemBits]++
		n, last = n+1, f2
		return true
	})
	if !fits {
		return nil
	}
	start := uint32(0)
	for b, c := range counts {
		p.off[b/4].Store(p.off[b/4].Load() | uint64(start)<<(16*(b%4)))
		start += c
	}
	p.n.Store(n)
	return p
}

// packedEstimate is linear counting of n fingerprints over 2^21 virtual
// registers.
func packedEstimate(n uint32) uint64 {
	return uint64(-packedM*math.Log1p(-float64(n)/packedM) + 0.5)
}

// clone returns a copy of p. Caller holds Set.mu.
func (p *packedTable) clone() *packedTable {
	c := new(packedTable)
	c.n.Store(p.n.Load())
	c.sideN.Store(p.sideN.Load())
	for i := range p.off {
		c.off[i].Store(p.off[i].Load())
	}
	for i := range p.side {
		c.side[i].Store(p.side[i].Load())
	}
	for i := range p.ent {
		c.ent[i].Store(p.ent[i].Load())
	}
	return c
}
