package redisstore_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/kpikit/kpikit/internal/redisstore"
	"github.com/kpikit/kpikit/internal/redistest"
	"github.com/kpikit/kpikit/internal/sketch"
)

var ids = func() []string {
	s := make([]string, 4096)
	for i := range s {
		s[i] = fmt.Sprintf("8c1f3b2e-4d5a-4b6c-9d7e-%012d", i)
	}
	return s
}()

// benchStore writes to a real server with the default options: the
// flusher drains the buffer concurrently, as in production.
func benchStore(b *testing.B) *redisstore.Store {
	srv := redistest.Start(b)
	return newStore(b, clientAt(b, srv.Addr()))
}

// BenchmarkHotPath compares one activity recorded into three periods (day,
// week, month) in memory (the baseline) and through the store.
func BenchmarkHotPath(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		day, week, month := sketch.New(), sketch.New(), sketch.New()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			h := sketch.Hash(ids[i&4095])
			day.Insert(h)
			week.Insert(h)
			month.Insert(h)
		}
	})
	b.Run("redis", func(b *testing.B) {
		s := benchStore(b)
		day, week, month := s.Key("d"), s.Key("w"), s.Key("m")
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			h := sketch.Hash(ids[i&4095]) ^ uint64(i>>12) // new members, no de-duplication
			s.PFAdd(day, h)
			s.PFAdd(week, h)
			s.PFAdd(month, h)
		}
	})
	b.Run("redis-each", func(b *testing.B) {
		s := benchStore(b)
		day, week, month := s.Key("d"), s.Key("w"), s.Key("m")
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			s.PFAddEach(sketch.Hash(ids[i&4095])^uint64(i>>12), day, week, month)
		}
	})
	b.Run("redis-down", func(b *testing.B) {
		// No server: the buffer is full and every insert drops the oldest
		// event, the costliest path.
		captureErrors(b)
		s := newStore(b, clientAt(b, "127.0.0.1:1"))
		day, week, month := s.Key("d"), s.Key("w"), s.Key("m")
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			h := sketch.Hash(ids[i&4095]) ^ uint64(i>>12)
			s.PFAdd(day, h)
			s.PFAdd(week, h)
			s.PFAdd(month, h)
		}
	})
	b.Run("redis-dedup", func(b *testing.B) {
		s := benchStore(b)
		day, week, month := s.Key("d"), s.Key("w"), s.Key("m")
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			h := sketch.Hash(ids[i&4095]) // 4096 users: repeats are de-duplicated
			s.PFAdd(day, h)
			s.PFAdd(week, h)
			s.PFAdd(month, h)
		}
	})
	b.Run("memory-parallel", func(b *testing.B) {
		day, week, month := sketch.New(), sketch.New(), sketch.New()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				h := sketch.Hash(ids[i&4095])
				day.Insert(h)
				week.Insert(h)
				month.Insert(h)
			}
		})
	})
	b.Run("redis-parallel", func(b *testing.B) {
		s := benchStore(b)
		day, week, month := s.Key("d"), s.Key("w"), s.Key("m")
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				h := sketch.Hash(ids[i&4095]) ^ uint64(i>>12)
				s.PFAdd(day, h)
				s.PFAdd(week, h)
				s.PFAdd(month, h)
			}
		})
	})
	b.Run("incrby", func(b *testing.B) {
		s := benchStore(b)
		k := s.Key("revenue")
		b.ReportAllocs()
		for b.Loop() {
			s.IncrBy(k, 1999)
		}
	})
}

// BenchmarkIngest measures sustained throughput into a real Redis: one
// producer enqueues distinct users into 30 daily keys as fast as the store
// drains them (it yields while more than half the buffer is pending, so
// nothing is dropped), then waits for the last flush. events/s counts
// PFADD events written.
func BenchmarkIngest(b *testing.B) {
	srv := redistest.Start(b)
	s := newStore(b, clientAt(b, srv.Addr()), redisstore.WithFlushInterval(10*time.Millisecond),
		redisstore.WithBatchSize(4096), redisstore.WithBufferSize(1<<16))
	keys := make([]redisstore.Key, 30)
	for i := range keys {
		keys[i] = s.Key(fmt.Sprint("day:", i))
	}
	b.ReportAllocs()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		if i&1023 == 0 {
			for s.Stats().Pending > 1<<15 {
				runtime.Gosched()
			}
		}
		s.PFAdd(keys[i%30], uint64(i)*0x9e3779b97f4a7c15)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	st := s.Stats()
	if st.Dropped != 0 {
		b.Fatalf("dropped %d events", st.Dropped)
	}
	b.ReportMetric(float64(st.Written)/elapsed.Seconds(), "events/s")
}
