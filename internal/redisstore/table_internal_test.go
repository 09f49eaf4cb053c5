package redisstore

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestDedupTable checks insert and backward-shift delete against a map,
// with a small table and clustered hashes so that probe chains wrap.
func TestDedupTable(t *testing.T) {
	s := &Store{tab: make([]uint64, 16), tmask: 15}
	ref := map[uint64]bool{}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 100000 {
		d := uint64(r.IntN(40))<<8 | uint64(r.IntN(4)) + 1 // few homes, many collisions
		if r.IntN(2) == 0 && len(ref) < 12 {
			if got, want := s.tabInsert(d), !ref[d]; got != want {
				t.Fatalf("step %d: insert(%#x) = %v, want %v", i, d, got, want)
			}
			ref[d] = true
		} else {
			s.tabDelete(d)
			delete(ref, d)
		}
		n := 0
		for _, e := range s.tab {
			if e != 0 {
				n++
				if !ref[e] {
					t.Fatalf("step %d: table holds %#x, not in reference", i, e)
				}
			}
		}
		if n != len(ref) {
			t.Fatalf("step %d: table holds %d, reference %d", i, n, len(ref))
		}
		for d := range ref {
			if s.tabInsert(d) {
				t.Fatalf("step %d: %#x not found", i, d)
			}
		}
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Max: 400 * time.Millisecond}
	for i, want := range []time.Duration{50, 100, 200, 400, 400, 400} {
		want *= time.Millisecond
		if d := b.Delay(); d != want {
			t.Fatalf("retry %d: delay %v, want %v", i, d, want)
		}
		if w := b.Next(); w < want/2 || w > want {
			t.Fatalf("retry %d: wait %v outside [%v, %v]", i, w, want/2, want)
		}
	}
	b.Reset()
	if d := b.Delay(); d != MinBackoff {
		t.Errorf("after Reset: delay %v, want %v", d, MinBackoff)
	}
	if z := (Backoff{}); z.Next() > MinBackoff || z.Delay() != MinBackoff {
		t.Errorf("a zero Max caps the delay at MinBackoff: %v", z.Delay())
	}
}
