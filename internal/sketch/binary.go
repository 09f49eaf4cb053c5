package sketch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// FormatVersion is the version byte that starts every [Set.MarshalBinary]
// encoding. It changes whenever the encoding or [Hash] changes.
const FormatVersion = 1

const (
	kindExact = 1
	kindDense = 2

	exactHeader = 2 + 4 // version, kind, uint32 count
	denseHeader = 2 + 1 // version, kind, precision
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
//	exact: version, 1, count (uint32 LE), count hashes (uint64 LE, strictly ascending)
//	dense: version, 2, precision (14), 16384 registers (one byte each, at most 51)
func (s *Set) MarshalBinary() ([]byte, error) { return s.AppendBinary(nil) }

// AppendBinary appends the encoding of s (see [Set.MarshalBinary]) to b.
func (s *Set) AppendBinary(b []byte) ([]byte, error) {
	for {
		if d := s.dense.Load(); d != nil {
			b = slices.Grow(b, denseHeader+registerCount)
			b = append(b, FormatVersion, kindDense, Precision)
			return d.appendTo(b), nil
		}
		t, z := s.table.Load(), s.zero.Load()
		if s.dense.Load() != nil {
			continue
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
}

// UnmarshalBinary replaces the contents of s with the decoded data. Data
// of another version returns an error wrapping [ErrVersion]; anything else
// that is not a valid encoding returns one wrapping [ErrCorrupt]. On error s
// is unchanged.
func (s *Set) UnmarshalBinary(data []byte) error {
	if len(data) < 2 {
		return fmt.Errorf("%w: %d bytes, want at least 2", ErrCorrupt, len(data))
	}
	if data[0] != FormatVersion {
		return fmt.Errorf("%w: %d, want %d", ErrVersion, data[0], FormatVersion)
	}
	switch data[1] {
	case kindExact:
		return s.unmarshalExact(data)
	case kindDense:
		return s.unmarshalDense(data)
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
	s.replaceLocked(nil, t, zero, n)
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
	s.replaceLocked(d, nil, false, ExactLimit)
	return nil
}
