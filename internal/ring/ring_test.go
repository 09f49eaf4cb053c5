package ring_test

import (
	"testing"

	"github.com/kpikit/kpikit/internal/ring"
)

func TestRing(t *testing.T) {
	r := ring.New(3, func(i int64, v *int64) { *v = i * 10 })
	if r.Top() != ring.NoTop || r.Lookup(0) != nil {
		t.Fatal("a new ring holds something")
	}
	if e := r.Get(5); e == nil || e.Index != 5 || e.V != 50 {
		t.Fatalf("Get(5) = %+v", e)
	}
	if e := r.Get(4); e == nil || e.V != 40 || r.Top() != 5 {
		t.Fatalf("Get(4) = %+v, top %d", e, r.Top())
	}
	if r.Get(2) != nil || r.Lookup(2) != nil {
		t.Fatal("an index at top-n is in the ring")
	}
	r.Get(7) // pushes 4 out
	if r.Lookup(4) != nil || r.Lookup(5) == nil || r.Top() != 7 {
		t.Fatalf("after Get(7): lookup 4 %v, 5 %v, top %d", r.Lookup(4), r.Lookup(5), r.Top())
	}
	var got []int64
	r.Each(r.Top(), func(e *ring.Entry[int64]) { got = append(got, e.Index) })
	if len(got) != 2 || got[0] != 5 || got[1] != 7 {
		t.Fatalf("Each = %v", got)
	}
	if n := ring.New[int](4, nil); n.Len() != 4 || n.Get(-3).Index != -3 {
		t.Fatal("negative index")
	}
}
