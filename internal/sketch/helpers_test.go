package sketch_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/axiomhq/hyperloglog"

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
		if t == nil {
			panic(err)
		}
		t.Fatal(err)
	}
	return b
}

// same returns "" when a and b are the same set: the same mode, the same
// estimate, and the same hashes (exact), fingerprints (sparse) or registers
// (dense); otherwise what differs. Where a sparse fingerprint sits depends
// on the order of insertion, so sparse encodings are not compared.
func same(a, b *sketch.Set) string {
	if ma, mb := sketch.Tier(a), sketch.Tier(b); ma != mb {
		return fmt.Sprintf("mode %s, want %s", ma, mb)
	}
	if ea, eb := a.Estimate(), b.Estimate(); ea != eb {
		return fmt.Sprintf("estimate %d, want %d", ea, eb)
	}
	if a.Sparse() {
		if !slices.Equal(sketch.Fingerprints(a), sketch.Fingerprints(b)) {
			return "fingerprints differ"
		}
		return ""
	}
	if !bytes.Equal(mustMarshal(nil, a), mustMarshal(nil, b)) {
		return "encodings differ"
	}
	return ""
}

// checkCorrupt checks that decoding data fails with ErrCorrupt and leaves
// the set it was decoded into unchanged.
func checkCorrupt(t *testing.T, data []byte) {
	t.Helper()
	s := filled(72, 0, 10)
	before := mustMarshal(t, s)
	if err := s.UnmarshalBinary(data); !errors.Is(err, sketch.ErrCorrupt) {
		t.Fatalf("UnmarshalBinary = %v, want ErrCorrupt", err)
	}
	if !bytes.Equal(mustMarshal(t, s), before) {
		t.Error("a failed UnmarshalBinary changed the set")
	}
}

// sameRegisters reports whether s gives the registers of ref.
func sameRegisters(t *testing.T, s *sketch.Set, ref *hyperloglog.Sketch) bool {
	t.Helper()
	sk, err := s.HyperLogLog()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := sk.MarshalBinary()
	b, _ := ref.MarshalBinary()
	return bytes.Equal(a, b)
}
