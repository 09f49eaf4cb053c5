package sketch

import (
	"math/rand/v2"
	"testing"
)

// TestPackedHas checks the five-lane lookup against the entry-by-entry
// scan, for every fingerprint of a full second tier and for absent ones.
func TestPackedHas(t *testing.T) {
	s := new(Set)
	rng := rand.New(rand.NewPCG(7, 8))
	for s.packed.Load() == nil || s.packed.Load().n.Load() < PackedLimit-50 {
		s.Insert(rng.Uint64())
	}
	pk := s.packed.Load()
	present := 0
	pk.each(func(f2 uint32, _ uint8) {
		present++
		if !pk.has(f2) {
			t.Fatalf("has(%#x) = false for a member", f2)
		}
	})
	for range 200_000 {
		f2 := uint32(rng.Uint64() >> (64 - PackedBits))
		if _, want := pk.find(f2); pk.has(f2) != want {
			t.Fatalf("has(%#x) = %v, find says %v", f2, !want, want)
		}
	}
	t.Logf("%d members checked", present)
}
