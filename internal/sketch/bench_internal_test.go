package sketch

import "testing"

func denseForBench(n int) *Set {
	s := new(Set)
	x := uint64(1)
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		s.Insert(x)
	}
	return s
}

func BenchmarkEstimateUncached(b *testing.B) {
	s := denseForBench(100_000)
	b.ReportAllocs()
	for b.Loop() {
		s.changed() // as if the set had changed
		s.Estimate()
	}
}

// BenchmarkCollect estimates a 12x12 weekly retention matrix plus 30 daily
// sets, all dense: every set changed since the last collection (the worst
// case) or only the current day and week (13 sets, the usual case).
func BenchmarkCollect(b *testing.B) {
	sets := make([]*Set, 12*12+30)
	for i := range sets {
		sets[i] = denseForBench(5000 + i)
	}
	for _, bc := range []struct {
		name  string
		dirty int
	}{{"dirty=174", len(sets)}, {"dirty=13", 13}, {"dirty=0", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, s := range sets[:bc.dirty] {
					s.changed()
				}
				for _, s := range sets {
					s.Estimate()
				}
			}
		})
	}
}
