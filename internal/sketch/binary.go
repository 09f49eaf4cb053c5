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

	exactHeader  = 2 + 4 // version, kind, uint32 count
	denseHeader  = 2 + 1 // version, kind, precision
	sparseHeader = 2 + 1 // version, kind, fingerprint bits
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
	d, sp, t, z := s.snapshot()
	if d != nil {
		b = slices.Grow(b, denseHeader+registerCount)
		b = append(b, FormatVersion, kindDense, Precision)
		return d.appendTo(b), nil
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
	s.replaceLocked(nil, nil, t, zero, n)
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
	s.replaceLocked(d, nil, nil, false, 0)
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
	s.replaceLocked(nil, sp, nil, false, n)
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
