package sketch

import (
	"encoding/binary"

	"github.com/axiomhq/hyperloglog"
)

// HyperLogLog returns s as a dense precision-14 sketch of
// github.com/axiomhq/hyperloglog with the same registers: its Estimate
// equals s's in dense mode, and it merges with other such sketches. An
// exact set is inserted hash by hash.
func (s *Set) HyperLogLog() (*hyperloglog.Sketch, error) {
	sk := hyperloglog.NewNoSparse()
	if d := s.dense.Load(); d != nil {
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
	c := s.Clone() // a consistent snapshot of an exact set
	if !c.Exact() {
		return c.HyperLogLog() // s turned dense meanwhile
	}
	if t := c.table.Load(); t != nil {
		t.each(sk.InsertHash)
	}
	if c.zero.Load() {
		sk.InsertHash(0)
	}
	return sk, nil
}
