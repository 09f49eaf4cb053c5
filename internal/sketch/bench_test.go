package sketch_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/axiomhq/hyperloglog"

	"github.com/kpikit/kpikit/internal/sketch"
)

// stream returns distinct, well-spread hashes without hashing cost.
type stream uint64

func (s *stream) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

var goroutineSeed atomic.Uint64

func BenchmarkHash(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sketch.Hash("6f1c1e2a-9b7d-4c55-8f5e-2d3c4b5a6978")
	}
}

func BenchmarkInsert(b *testing.B) {
	b.Run("exact/present", func(b *testing.B) {
		s := filled(30, 0, 1000)
		hs := make([]uint64, 1000)
		for i := range hs {
			hs[i] = userHash(30, i)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			s.Insert(hs[i%len(hs)])
			i++
		}
	})
	b.Run("dense/new", func(b *testing.B) {
		s := filled(30, 0, 10_000)
		var st stream
		b.ReportAllocs()
		for b.Loop() {
			s.Insert(st.next())
		}
	})
	b.Run("baseline/axiomhq", func(b *testing.B) {
		sk := hyperloglog.NewNoSparse()
		var st stream
		b.ReportAllocs()
		for b.Loop() {
			sk.InsertHash(st.next())
		}
	})
	b.Run("baseline/axiomhq+mutex", func(b *testing.B) {
		sk := hyperloglog.NewNoSparse()
		var mu sync.Mutex
		var st stream
		b.ReportAllocs()
		for b.Loop() {
			mu.Lock()
			sk.InsertHash(st.next())
			mu.Unlock()
		}
	})
}

// BenchmarkInsertTiers compares an insert into a set of 5,000 users in
// its sparse tier with the same insert into the dense registers that held
// such a set before the sparse tier existed (sub-benchmark "p14"), in the
// same run: an insert of a user already present (the common case: an
// active user's next event), and the filling of a set with 5,000 new
// users, per insert.
func BenchmarkInsertTiers(b *testing.B) {
	const n = 5000
	hs := make([]uint64, n)
	for i := range hs {
		hs[i] = userHash(32, i)
	}
	present := func(b *testing.B, s *sketch.Set, hs []uint64) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			s.Insert(hs[i])
			if i++; i == len(hs) {
				i = 0
			}
		}
	}
	b.Run("present/sparse", func(b *testing.B) {
		s := filled(32, 0, n)
		if !s.Sparse() {
			b.Fatal("not sparse")
		}
		present(b, s, hs)
	})
	b.Run("present/p14", func(b *testing.B) {
		s := filled(32, 0, n)
		sketch.ForceDense(s)
		present(b, s, hs)
	})
	fill := func(b *testing.B, denseAt int) {
		b.ReportAllocs()
		for b.Loop() {
			s := sketch.New()
			for i, h := range hs {
				if i == denseAt {
					sketch.ForceDense(s)
				}
				s.Insert(h)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/insert")
	}
	b.Run("present/packed-8500", func(b *testing.B) {
		s := filled(35, 0, 8500)
		if sketch.Tier(s) != "packed" {
			b.Fatal("not packed")
		}
		hs := make([]uint64, 8500)
		for i := range hs {
			hs[i] = userHash(35, i)
		}
		present(b, s, hs)
	})
	b.Run("fill/sparse", func(b *testing.B) { fill(b, -1) })
	b.Run("fill/p14", func(b *testing.B) { fill(b, sketch.ExactLimit) })
}

// BenchmarkInsertParallel inserts distinct hashes into one shared set from
// every goroutine; run with -cpu 1,2,... to see the scaling.
func BenchmarkInsertParallel(b *testing.B) {
	b.Run("set", func(b *testing.B) {
		s := filled(31, 0, 10_000)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			st := stream(goroutineSeed.Add(1) << 40)
			for pb.Next() {
				s.Insert(st.next())
			}
		})
	})
	b.Run("baseline/axiomhq+mutex", func(b *testing.B) {
		sk := hyperloglog.NewNoSparse()
		var mu sync.Mutex
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			st := stream(goroutineSeed.Add(1) << 40)
			for pb.Next() {
				h := st.next()
				mu.Lock()
				sk.InsertHash(h)
				mu.Unlock()
			}
		})
	})
}

// BenchmarkRecord is the shape of one activity on the customer hot path:
// hash the user id once and insert it into the day's active set, the
// (cohort, week) retention cell and the month's set.
func BenchmarkRecord(b *testing.B) {
	ids := make([]string, 4096)
	for i := range ids {
		ids[i] = "user-" + string(rune('a'+i%26)) + "-" + itoa(i)
	}
	day, week, month := filled(32, 0, 10_000), filled(33, 0, 10_000), filled(34, 0, 10_000)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			h := sketch.Hash(ids[i&4095])
			day.Insert(h)
			week.Insert(h)
			month.Insert(h)
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := int(goroutineSeed.Add(1) * 977)
			for pb.Next() {
				h := sketch.Hash(ids[i&4095])
				day.Insert(h)
				week.Insert(h)
				month.Insert(h)
				i++
			}
		})
	})
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[n:])
		}
	}
}

func BenchmarkEstimate(b *testing.B) {
	s := filled(35, 0, 100_000)
	ref := hyperloglog.NewNoSparse()
	for i := range 100_000 {
		ref.InsertHash(userHash(35, i))
	}
	b.Run("cached", func(b *testing.B) {
		s.Estimate()
		b.ReportAllocs()
		for b.Loop() {
			s.Estimate()
		}
	})
	b.Run("baseline/axiomhq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ref.Estimate()
		}
	})
}

// BenchmarkUnion30 builds a rolling MAU: the union of 30 dense daily sets
// and its estimate.
func BenchmarkUnion30(b *testing.B) {
	for _, c := range []struct {
		name       string
		step, size int
	}{
		{"dense", 2000, 20_000},     // 30 dense days, 78,000 users
		{"sparse", 1000, 3000},      // 30 days in the first sparse tier, 32,000 users
		{"sparse-small", 100, 2000}, // 4,900 users: the union stays sparse
	} {
		b.Run(c.name, func(b *testing.B) {
			days := make([]*sketch.Set, 30)
			for d := range days {
				days[d] = filled(36, d*c.step, d*c.step+c.size)
			}
			b.ReportAllocs()
			for b.Loop() {
				sketch.Union(days...).Estimate()
			}
		})
	}
	// One day at a time with an estimate after each, as a rolling window
	// over sets read from a store is counted: 30 days of 1,000 users.
	b.Run("incremental", func(b *testing.B) {
		days := make([]*sketch.Set, 30)
		for d := range days {
			days[d] = filled(37, d*300, d*300+1000)
		}
		b.ReportAllocs()
		for b.Loop() {
			u := sketch.New()
			for _, d := range days {
				u.Merge(d)
				u.Estimate()
			}
		}
	})
}

// BenchmarkSize1M reports the bytes a set holds after 1M distinct users.
func BenchmarkSize1M(b *testing.B) {
	b.ReportAllocs()
	var size int
	for b.Loop() {
		s := filled(37, 0, 1_000_000)
		size = s.SizeBytes()
	}
	b.ReportMetric(float64(size), "bytes/set")
}
