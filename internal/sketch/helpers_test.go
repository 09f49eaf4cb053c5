package sketch_test

import (
	"strconv"

	"github.com/kpikit/kpikit/internal/sketch"
)

// userHash returns the hash of the user id "user-<seed>-<i>".
func userHash(seed, i int) uint64 {
	var buf [48]byte
	b := append(buf[:0], "user-"...)
	b = strconv.AppendInt(b, int64(seed), 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(i), 10)
	return sketch.HashBytes(b)
}

// filled returns a set holding users [from, to) of seed.
func filled(seed, from, to int) *sketch.Set {
	s := sketch.New()
	for i := from; i < to; i++ {
		s.Insert(userHash(seed, i))
	}
	return s
}

func mustMarshal(t interface{ Fatal(...any) }, s *sketch.Set) []byte {
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
