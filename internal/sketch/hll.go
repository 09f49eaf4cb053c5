package sketch

import (
	"encoding/binary"

	"github.com/axiomhq/hyperloglog"
)

// HyperLogLog returns s as a dense precision-14 sketch of
// github.com/axiomhq/hyperloglog with the same registers: its Estimate
// equals s's in dense mode, and it merges with other such sketches. An
// exact set is inserted hash by hash; a sparse set gives the registers its
// hashes would have set.
func (s *Set) HyperLogLog() (*hyperloglog.Sketch, error) {
	sk := hyperloglog.NewNoSparse()
	v := s.snapshot()
	d, t, z := v.d, v.t, v.z
	if v.pk != nil || v.sp != nil {
		d = new(registers)
		v.each(func(idx, rho uint64) { d.raise(idx, rho) })
		t, z = nil, false
	}
	if d != nil {
		// axiomhq version-2 dense layout: version, precision, 0, 0,
		// register count (uint32 big-endian), registers.
		b := make([]byte, 0, 8+registerCount)
		b = append(b, 2, Precision, 0, 0)
		b = binary.BigEndian.AppendUint32(b, registerCount)
		b = d.appendTo(b)
		if err := sk.UnmarshalBinary(b); err != nil {
			return nil, err
		}
		return sk, nil
	}
	if t != nil {
		t.each(sk.InsertHash)
	}
	if z {
		sk.InsertHash(0)
	}
	return sk, nil
}
