package sketch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// FormatVersion is the version byte that starts every [Set.MarshalBinary]
// encoding. It changes whenever the encoding or [Hash] changes. Version 2
// added the sparse kind; [Set.UnmarshalBinary] still reads version 1, whose
// exact and dense kinds are those of version 2.
const FormatVersion = 2

const (
	kindExact  = 1
	kindDense  = 2
	kindSparse = 3
	kindPacked = 4

	exactHeader  = 2 + 4                           // version, kind, uint32 count
	denseHeader  = 2 + 1                           // version, kind, precision
	sparseHeader = 2 + 1                           // version, kind, fingerprint bits
	packedHeader = 2 + 1 + 2 + 1 + 2*packedBuckets // ..., entries, side entries, offsets
)

var (
	// ErrVersion is returned by [Set.UnmarshalBinary] for data written by
	// another format version.
	ErrVersion = errors.New("sketch: unsupported format version")
	// ErrCorrupt is returned by [Set.UnmarshalBinary] for data that is not
	// a valid encoding.
	ErrCorrupt = errors.New("sketch: corrupt data")
)

// MarshalBinary encodes s. The encoding is deterministic: equal sets in
// the same mode encode to equal bytes.
//
//	exact:  version, 1, count (uint32 LE), count hashes (uint64 LE, strictly ascending)
//	dense:  version, 2, precision (14), 16384 registers (one byte each, at most 51)
//	sparse: version, 3, fingerprint bits (23), 8192 slots (uint16 LE)
//	packed: version, 4, fingerprint bits (21), entries n (uint16 LE), side
//	        entries k (one byte), 1024 bucket offsets (uint16 LE), k side
//	        entries f<<6|rho (uint32 LE, ascending), n 11-bit remainders
//	        packed little-endian, ascending within each bucket
//
// The sparse slots are the table itself (see [SparseBytes]): 512 buckets of
// 16 slots, each 0 (empty), 0x8000|rem (the fingerprint b<<14|rem of its
// bucket b), 0xc000|rem (the fingerprint whose second bucket b is,
// b = b1 ^ (1 + rem*511>>14)), or alt<<11|(rem>>9)<<6|rho, the register value of
// the fingerprint (alt, rem) of the same bucket whose low 9 bits are zero.
// Where a fingerprint sits depends on the order of insertion, so equal
// sparse sets may encode differently.
func (s *Set) MarshalBinary() ([]byte, error) { return s.AppendBinary(nil) }

// AppendBinary appends the encoding of s (see [Set.MarshalBinary]) to b.
func (s *Set) AppendBinary(b []byte) ([]byte, error) {
	v := s.snapshot()
	d, sp, t, z := v.d, v.sp, v.t, v.z
	if d != nil {
		b = slices.Grow(b, denseHeader+registerCount)
		b = append(b, FormatVersion, kindDense, Precision)
		return d.appendTo(b), nil
	}
	if v.pk != nil {
		return v.pk.appendTo(b), nil
	}
	if sp != nil {
		b = slices.Grow(b, sparseHeader+SparseBytes)
		b = append(b, FormatVersion, kindSparse, SparseBits)
		return sp.appendTo(b), nil
	}
	var hs []uint64
	if t != nil {
		hs = make([]uint64, 0, s.n.Load()+1)
		t.each(func(h uint64) { hs = append(hs, h) })
	}
	if z {
		hs = append(hs, 0)
	}
	slices.Sort(hs)
	b = slices.Grow(b, exactHeader+8*len(hs))
	b = append(b, FormatVersion, kindExact)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(hs)))
	for _, h := range hs {
		b = binary.LittleEndian.AppendUint64(b, h)
	}
	return b, nil
}

// UnmarshalBinary replaces the contents of s with the decoded data. Data
// of another version returns an error wrapping [ErrVersion]; anything else
// that is not a valid encoding returns one wrapping [ErrCorrupt]. On error s
// is unchanged.
func (s *Set) UnmarshalBinary(data []byte) error {
	if len(data) < 2 {
		return fmt.Errorf("%w: %d bytes, want at least 2", ErrCorrupt, len(data))
	}
	if data[0] != FormatVersion && data[0] != 1 {
		return fmt.Errorf("%w: %d, want 1 or %d", ErrVersion, data[0], FormatVersion)
	}
	switch {
	case data[1] == kindExact:
		return s.unmarshalExact(data)
	case data[1] == kindDense:
		return s.unmarshalDense(data)
	case data[1] == kindSparse && data[0] >= 2:
		return s.unmarshalSparse(data)
	case data[1] == kindPacked && data[0] >= 2:
		pk, err := decodePacked(data)
		if err != nil {
			return err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.replaceLocked(view{pk: pk}, 0)
		return nil
	default:
		return fmt.Errorf("%w: unknown kind %d", ErrCorrupt, data[1])
	}
}

func (s *Set) unmarshalExact(data []byte) error {
	if len(data) < exactHeader {
		return fmt.Errorf("%w: exact header needs %d bytes, have %d", ErrCorrupt, exactHeader, len(data))
	}
	n := binary.LittleEndian.Uint32(data[2:])
	if n > ExactLimit {
		return fmt.Errorf("%w: exact count %d exceeds %d", ErrCorrupt, n, ExactLimit)
	}
	if want := exactHeader + 8*int(n); len(data) != want {
		return fmt.Errorf("%w: exact set of %d needs %d bytes, have %d", ErrCorrupt, n, want, len(data))
	}
	slots := minSlots
	for int(n)*4 > slots*3 {
		slots *= 2
	}
	var t *table
	zero := false
	var prev uint64
	for i := range int(n) {
		h := binary.LittleEndian.Uint64(data[exactHeader+8*i:])
		if i > 0 && h <= prev {
			return fmt.Errorf("%w: hash %d not above the previous one", ErrCorrupt, i)
		}
		prev = h
		if h == 0 {
			zero = true
			continue
		}
		if t == nil {
			t = newTable(slots)
		}
		t.add(h)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replaceLocked(view{t: t, z: zero}, n)
	return nil
}

func (s *Set) unmarshalDense(data []byte) error {
	if len(data) < denseHeader {
		return fmt.Errorf("%w: dense header needs %d bytes, have %d", ErrCorrupt, denseHeader, len(data))
	}
	if data[2] != Precision {
		return fmt.Errorf("%w: precision %d, want %d", ErrCorrupt, data[2], Precision)
	}
	regs := data[denseHeader:]
	if len(regs) != registerCount {
		return fmt.Errorf("%w: dense set needs %d register bytes, have %d", ErrCorrupt, registerCount, len(regs))
	}
	for i, r := range regs {
		if r > maxRho {
			return fmt.Errorf("%w: register %d = %d, max %d", ErrCorrupt, i, r, maxRho)
		}
	}
	d := new(registers)
	d.load(regs)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replaceLocked(view{d: d}, 0)
	return nil
}

func (s *Set) unmarshalSparse(data []byte) error {
	if len(data) < sparseHeader {
		return fmt.Errorf("%w: sparse header needs %d bytes, have %d", ErrCorrupt, sparseHeader, len(data))
	}
	if data[2] != SparseBits {
		return fmt.Errorf("%w: fingerprint bits %d, want %d", ErrCorrupt, data[2], SparseBits)
	}
	sp, n, err := decodeSparse(data[sparseHeader:])
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replaceLocked(view{sp: sp}, n)
	return nil
}

// decodeSparse checks and loads a sparse table of SparseBytes bytes and
// returns it with the number of fingerprints it holds.
func decodeSparse(b []byte) (*sparseTable, uint32, error) {
	if len(b) != SparseBytes {
		return nil, 0, fmt.Errorf("%w: sparse set needs %d slot bytes, have %d", ErrCorrupt, SparseBytes, len(b))
	}
	sp := new(sparseTable)
	for i := range sparseWords {
		sp.w[i/bucketWords][i%bucketWords].Store(binary.LittleEndian.Uint64(b[8*i:]))
	}
	n := uint32(0)
	for bk := range uint32(sparseBuckets) {
		end := sp.used(bk)
		for j := range bucketSlots {
			v := sp.slot(bk, j)
			if j >= end {
				if v != 0 {
					return nil, 0, fmt.Errorf("%w: bucket %d slot %d follows an empty slot", ErrCorrupt, bk, j)
				}
				continue
			}
			if v&entryFlag == 0 { // a rho slot: its entry must be there
				rem := uint32(v>>6&0x1f) << tailBits
				code := entryFlag | uint16(rem)
				if v&(1<<11) != 0 {
					code |= altFlag
				}
				if rho := v & 0x3f; rho <= tailBits || rho > maxRho || v>>12 != 0 || sp.find(bk, code) < 0 || sp.rhoSlot(bk, v&(1<<11) != 0, rem) != j {
					return nil, 0, fmt.Errorf("%w: bucket %d slot %d: rho slot %#04x without its fingerprint, or a second one", ErrCorrupt, bk, j, v)
				}
				continue
			}
			n++
			rem, alt := uint32(v&remMask), v&altFlag != 0
			if sp.find(bk, v) != j {
				return nil, 0, fmt.Errorf("%w: bucket %d holds %#04x twice", ErrCorrupt, bk, v)
			}
			if alt && sp.find(bk^partner(rem), v&^altFlag) >= 0 {
				return nil, 0, fmt.Errorf("%w: bucket %d: fingerprint %#04x in both its buckets", ErrCorrupt, bk, v)
			}
			if rem&tailMask == 0 && sp.rhoSlot(bk, alt, rem) < 0 {
				return nil, 0, fmt.Errorf("%w: bucket %d: fingerprint %#04x without its rho slot", ErrCorrupt, bk, v)
			}
		}
	}
	return sp, n, nil
}

// appendTo appends the packed encoding of p (see [Set.MarshalBinary]).
// Caller holds Set.mu or owns p.
func (p *packedTable) appendTo(b []byte) []byte {
	n, k := p.n.Load(), p.sideN.Load()
	side := make([]uint32, k)
	for i := range side {
		side[i] = uint32(p.side[i/2].Load() >> (32 * (i % 2)))
	}
	slices.Sort(side)
	b = slices.Grow(b, packedHeader+4*len(side)+int(packedRemBits*n+7)/8)
	b = append(b, FormatVersion, kindPacked, PackedBits)
	b = binary.LittleEndian.AppendUint16(b, uint16(n))
	b = append(b, byte(k))
	for bk := range uint32(packedBuckets) {
		b = binary.LittleEndian.AppendUint16(b, uint16(p.offset(bk)))
	}
	for _, e := range side {
		b = binary.LittleEndian.AppendUint32(b, e)
	}
	var acc uint64
	nb := 0
	for i := range n {
		acc |= uint64(p.entry(i)) << nb
		for nb += packedRemBits; nb >= 8; nb -= 8 {
			b = append(b, byte(acc))
			acc >>= 8
		}
	}
	if nb > 0 {
		b = append(b, byte(acc))
	}
	return b
}

// decodePacked checks and loads a packed encoding.
func decodePacked(data []byte) (*packedTable, error) {
	if len(data) < packedHeader {
		return nil, fmt.Errorf("%w: packed header needs %d bytes, have %d", ErrCorrupt, packedHeader, len(data))
	}
	if data[2] != PackedBits {
		return nil, fmt.Errorf("%w: fingerprint bits %d, want %d", ErrCorrupt, data[2], PackedBits)
	}
	n, k := uint32(binary.LittleEndian.Uint16(data[3:])), uint32(data[5])
	if n > PackedLimit || k > packedSideMax {
		return nil, fmt.Errorf("%w: %d entries and %d side entries, at most %d and %d", ErrCorrupt, n, k, PackedLimit, packedSideMax)
	}
	if want := packedHeader + 4*int(k) + int(packedRemBits*n+7)/8; len(data) != want {
		return nil, fmt.Errorf("%w: packed set of %d entries needs %d bytes, have %d", ErrCorrupt, n, want, len(data))
	}
	p := new(packedTable)
	prev := uint32(0)
	for bk := range uint32(packedBuckets) {
		o := uint32(binary.LittleEndian.Uint16(data[6+2*bk:]))
		if bk == 0 && o != 0 || o < prev || o > n {
			return nil, fmt.Errorf("%w: bucket %d starts at %d (previous %d, %d entries)", ErrCorrupt, bk, o, prev, n)
		}
		p.off[bk/4].Store(p.off[bk/4].Load() | uint64(o)<<(16*(bk%4)))
		prev = o
	}
	sideAt := packedHeader
	for i := range k {
		e := binary.LittleEndian.Uint32(data[sideAt+4*int(i):])
		f2, rho := e>>6, e&0x3f
		if f2>>PackedBits != 0 || f2&(1<<packedTailBits-1) != 0 || rho <= packedTailBits || rho > maxRho ||
			i > 0 && e>>6 <= binary.LittleEndian.Uint32(data[sideAt+4*int(i-1):])>>6 {
			return nil, fmt.Errorf("%w: side entry %d = %#x", ErrCorrupt, i, e)
		}
		p.side[i/2].Store(p.side[i/2].Load() | uint64(e)<<(32*(i%2)))
	}
	p.sideN.Store(k)
	ents := data[sideAt+4*int(k):]
	var acc uint64
	nb, j := 0, 0
	for i := range n {
		for nb < packedRemBits {
			acc |= uint64(ents[j]) << nb
			j++
			nb += 8
		}
		p.setEntry(i, uint32(acc)&(1<<packedRemBits-1))
		acc >>= packedRemBits
		nb -= packedRemBits
	}
	if acc != 0 {
		return nil, fmt.Errorf("%w: packed entries end with set bits", ErrCorrupt)
	}
	p.n.Store(n)
	zeroTails := uint32(0)
	for bk := range uint32(packedBuckets) {
		start, end := p.bucketRange(bk)
		for i := start; i < end; i++ {
			e := p.entry(i)
			if i > start && e <= p.entry(i-1) {
				return nil, fmt.Errorf("%w: bucket %d entry %d not above the previous one", ErrCorrupt, bk, i)
			}
			if f2 := bk<<packedRemBits | e; f2&(1<<packedTailBits-1) == 0 {
				if p.sideRho(f2) == 0 {
					return nil, fmt.Errorf("%w: fingerprint %#x without its side entry", ErrCorrupt, f2)
				}
				zeroTails++
			}
		}
	}
	if zeroTails != k {
		return nil, fmt.Errorf("%w: %d side entries for %d fingerprints", ErrCorrupt, k, zeroTails)
	}
	return p, nil
}
