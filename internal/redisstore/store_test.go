package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/internal/faultnet"
	"github.com/kpikit/kpikit/internal/redisstore"
	"github.com/kpikit/kpikit/internal/redistest"
	"github.com/kpikit/kpikit/internal/selfobs"
	"github.com/kpikit/kpikit/internal/sketch"
)

func TestBatchingAndDedup(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, srv)
	s := newStore(t, redisstore.WithClient(c), redisstore.WithFlushInterval(time.Hour),
		redisstore.WithBatchSize(1<<14), redisstore.WithBufferSize(1<<14))
	const keys, users, repeats = 10, 200, 5
	var ks []redisstore.Key
	for i := range keys {
		ks = append(ks, s.Key(fmt.Sprintf("day:%d", i)))
	}
	for range repeats {
		for u := range users {
			h := sketch.Hash(fmt.Sprintf("user-%d", u))
			for _, k := range ks {
				s.PFAdd(k, h)
			}
		}
	}
	flush(t, s, 5*time.Second)
	st := s.Stats()
	if st.Enqueued != keys*users || st.Deduplicated != keys*users*(repeats-1) || st.Written != keys*users || st.Dropped != 0 {
		t.Errorf("stats = %+v, want %d enqueued and written, %d deduplicated", st, keys*users, keys*users*(repeats-1))
	}
	if n, _ := redistest.CommandStat(t, srv.Addr(), "pfadd"); n != keys {
		t.Errorf("PFADD commands = %d, want %d (one per key per batch)", n, keys)
	}
	ctx := context.Background()
	for _, k := range ks {
		n, err := s.PFCount(ctx, k)
		if err != nil || abs(n-users) > 2 {
			t.Errorf("PFCOUNT %s = %d, %v; want about %d", k, n, err, users)
		}
	}
	// The members are the hex form of the hash.
	if ok, _ := c.PFAdd(ctx, ks[0].String(), redisstore.Member(sketch.Hash("user-0"))).Result(); ok != 0 {
		t.Errorf("member of user-0 was not in %s", ks[0])
	}
	// After a flush the same member is buffered again (a new window).
	s.PFAdd(ks[0], sketch.Hash("user-0"))
	if st := s.Stats(); st.Enqueued != keys*users+1 {
		t.Errorf("enqueued after a new window = %d, want %d", st.Enqueued, keys*users+1)
	}
}

func TestWrites(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, srv)
	s := newStore(t, redisstore.WithClient(c), redisstore.WithKeyPrefix("app:"), redisstore.WithTTL(time.Hour))
	ctx := context.Background()
	rev, first, funnel, hll := s.Key("revenue"), s.Key("first:ann"), s.Key("funnel:ann"), s.Key("dau")
	for _, n := range []int64{1250, -250, 99, 1} {
		s.IncrBy(rev, n)
	}
	s.IncrBy(rev, 0)
	s.SetNX(first, 20240101, 0)
	s.SetNX(first, 20250101, 0) // not the first: ignored by Redis
	s.SetNX(funnel, 2, 10*time.Minute)
	s.PFAdd(hll, sketch.Hash("ann"))
	s.Expire(hll, 2*time.Hour)
	flush(t, s, 5*time.Second)

	if got, ok, err := s.Get(ctx, rev); got != 1100 || !ok || err != nil {
		t.Errorf("Get(revenue) = %d, %v, %v; want 1100", got, ok, err)
	}
	if got, ok, err := s.Get(ctx, first); got != 20240101 || !ok || err != nil {
		t.Errorf("Get(first) = %d, %v, %v; want the first value", got, ok, err)
	}
	if rev.String() != "app:revenue" {
		t.Errorf("key = %q, want the prefix", rev)
	}
	for _, tt := range []struct {
		key      redisstore.Key
		min, max time.Duration
	}{
		{rev, 59 * time.Minute, time.Hour},
		{first, 59 * time.Minute, time.Hour},
		{funnel, 9 * time.Minute, 10 * time.Minute},
		{hll, 119 * time.Minute, 2 * time.Hour},
	} {
		if ttl := c.TTL(ctx, tt.key.String()).Val(); ttl < tt.min || ttl > tt.max {
			t.Errorf("TTL %s = %v, want %v..%v", tt.key, ttl, tt.min, tt.max)
		}
	}
}

func TestReadHelpers(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, srv)
	s := newStore(t, redisstore.WithClient(c))
	ctx := context.Background()
	mon, tue, missing := s.Key("mon"), s.Key("tue"), s.Key("missing")
	for _, id := range []string{"ann", "bob", "cy"} {
		s.PFAdd(mon, sketch.Hash(id))
	}
	for _, id := range []string{"bob", "dee"} {
		s.PFAdd(tue, sketch.Hash(id))
	}
	a, b := s.Key("a"), s.Key("b")
	s.IncrBy(a, 5)
	s.IncrBy(b, -7)
	flush(t, s, 5*time.Second)
	tests := []struct {
		name string
		keys []redisstore.Key
		want int64
	}{
		{"one", []redisstore.Key{mon}, 3},
		{"union", []redisstore.Key{mon, tue}, 4},
		{"with missing", []redisstore.Key{tue, missing}, 2},
		{"none", nil, 0},
	}
	for _, tt := range tests {
		if got, err := s.PFCount(ctx, tt.keys...); got != tt.want || err != nil {
			t.Errorf("%s: PFCount(%v) = %d, %v; want %d", tt.name, tt.keys, got, err, tt.want)
		}
	}
	if got, err := s.MGet(ctx, a, missing, b); err != nil || fmt.Sprint(got) != "[5 0 -7]" {
		t.Errorf("MGet = %v, %v; want [5 0 -7]", got, err)
	}
	if got, ok, err := s.Get(ctx, missing); got != 0 || ok || err != nil {
		t.Errorf("Get(missing) = %d, %v, %v; want 0, false, nil", got, ok, err)
	}
	c.Set(ctx, "kpikit:text", "x", 0)
	if _, err := s.MGet(ctx, s.Key("text")); err == nil || !strings.Contains(err.Error(), "kpikit:text") {
		t.Errorf("MGet(text) error = %v, want one naming the key", err)
	}
	if _, _, err := s.Get(ctx, s.Key("text")); err == nil {
		t.Error("Get(text) succeeded")
	}
}

func TestRejectedCommandNotRetried(t *testing.T) {
	errs := captureErrors(t)
	srv := redistest.Start(t)
	c := newClient(t, srv)
	s := newStore(t, redisstore.WithClient(c))
	ctx := context.Background()
	if err := c.Set(ctx, s.Key("str").String(), "x", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	s.PFAdd(s.Key("str"), 1)   // WRONGTYPE
	s.IncrBy(s.Key("str"), 1)  // not an integer
	s.IncrBy(s.Key("good"), 3) // applied
	flush(t, s, 5*time.Second)
	if st := s.Stats(); st.Rejected != 2 || st.Written != 3 {
		t.Errorf("stats = %+v, want 2 rejected commands, 3 events written", st)
	}
	if n, _, _ := s.Get(ctx, s.Key("good")); n != 3 {
		t.Errorf("good = %d, want 3", n)
	}
	if e := errs(); len(e) == 0 || !strings.Contains(e[0].Error(), "refused") {
		t.Errorf("reported %v, want the refusal", e)
	}
}

// dropReader reads the selfobs counter of dropped events.
func dropReader(t *testing.T) (selfobs.Reason, func() int64) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	c, err := selfobs.New(mp.Meter("test"), "customer.test")
	if err != nil {
		t.Fatal(err)
	}
	return c.Reason("store_unavailable"), func() int64 {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					if v, _ := dp.Attributes.Value(selfobs.ReasonKey); v == attribute.StringValue("store_unavailable") {
						return dp.Value
					}
				}
			}
		}
		return 0
	}
}

// TestOutageRecovery kills Redis (a crash, with an append-only file so
// Redis keeps what it acknowledged) while events keep coming, restarts it,
// and checks that every event that fit in the buffer arrived exactly once.
func TestOutageRecovery(t *testing.T) {
	captureErrors(t)
	srv := redistest.Start(t, redistest.WithDurable())
	drop, dropped := dropReader(t)
	s := newStore(t, clientAt(t, srv.Addr()), redisstore.WithFlushInterval(5*time.Millisecond),
		redisstore.WithBatchSize(256), redisstore.WithBufferSize(1<<15),
		redisstore.WithMaxBackoff(100*time.Millisecond), redisstore.WithDropCounter(drop))
	ctx := context.Background()
	total, users := s.Key("revenue"), s.Key("users")
	var want int64
	send := func(from, to int) {
		for i := from; i < to; i++ {
			s.IncrBy(total, int64(i%97+1))
			want += int64(i%97 + 1)
			s.PFAdd(users, sketch.Hash(fmt.Sprint("u", i)))
			if i%200 == 0 {
				time.Sleep(time.Millisecond) // spread over flushes
			}
		}
	}
	send(0, 4000)
	srv.Kill()
	send(4000, 10000) // 12000 events while down: fits in the buffer
	time.Sleep(300 * time.Millisecond)
	srv.Restart()
	send(10000, 12000)
	flush(t, s, 20*time.Second)

	st := s.Stats()
	if st.Dropped != 0 || dropped() != 0 {
		t.Errorf("dropped %d (counter %d), want none: stats %+v", st.Dropped, dropped(), st)
	}
	if got, _, err := s.Get(ctx, total); got != want || err != nil {
		t.Errorf("revenue = %d, %v; want exactly %d", got, err, want)
	}
	if got, err := s.PFCount(ctx, users); err != nil || abs(got-12000) > 12000*3/100 {
		t.Errorf("users = %d, %v; want 12000 within 3%%", got, err)
	}
}

// TestOverflowCountsDrops buffers more than fits while Redis is down: the
// oldest events are dropped, and written + dropped is exactly what was
// sent, on the stats and on the selfobs counter.
func TestOverflowCountsDrops(t *testing.T) {
	captureErrors(t)
	srv := redistest.Start(t)
	drop, dropped := dropReader(t)
	s := newStore(t, clientAt(t, srv.Addr()), redisstore.WithFlushInterval(5*time.Millisecond),
		redisstore.WithBatchSize(100), redisstore.WithBufferSize(1000),
		redisstore.WithMaxBackoff(50*time.Millisecond), redisstore.WithDropCounter(drop))
	srv.Stop()
	k := s.Key("n")
	const sent = 5000
	for range sent {
		s.IncrBy(k, 1)
	}
	time.Sleep(100 * time.Millisecond)
	srv.Restart()
	flush(t, s, 20*time.Second)
	got, _, err := s.Get(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if got+int64(st.Dropped) != sent || st.Dropped == 0 || int64(st.Dropped) != dropped() {
		t.Errorf("written %d + dropped %d (counter %d) != sent %d; stats %+v", got, st.Dropped, dropped(), sent, st)
	}
	if got < 1024 || got > 1124 { // the buffer (rounded up) plus at most one batch in flight
		t.Errorf("written %d, want the buffer's 1024 plus at most one batch of 100", got)
	}
}

func TestHotPathNeverBlocks(t *testing.T) {
	captureErrors(t)
	srv := redistest.Start(t)
	s := newStore(t, clientAt(t, srv.Addr()), redisstore.WithFlushInterval(time.Millisecond),
		redisstore.WithBufferSize(1024), redisstore.WithBatchSize(64))
	srv.Stop()
	k := s.Key("n")
	done := make(chan time.Duration)
	go func() {
		start := time.Now()
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 250000 {
					s.IncrBy(k, 1)
					s.PFAdd(k, uint64(g<<32|i))
				}
			}()
		}
		wg.Wait()
		done <- time.Since(start)
	}()
	select {
	case d := <-done:
		t.Logf("2M events with Redis down in %v", d)
	case <-time.After(10 * time.Second):
		t.Fatal("2M events with Redis down took over 10s: the hot path blocks")
	}
	if st := s.Stats(); st.Dropped == 0 {
		t.Errorf("nothing dropped with Redis down: %+v", st)
	}
}

func TestShutdown(t *testing.T) {
	captureErrors(t)
	srv := redistest.Start(t)
	c := newClient(t, srv)
	s, err := redisstore.New(redisstore.WithClient(c), redisstore.WithFlushInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	k := s.Key("n")
	s.IncrBy(k, 7)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The buffered event was written; the caller's client is still open.
	if n, err := c.Get(context.Background(), k.String()).Int64(); n != 7 || err != nil {
		t.Errorf("after Shutdown: %d, %v; want 7 written through the open client", n, err)
	}
	s.IncrBy(k, 1)
	if st := s.Stats(); st.Dropped != 1 {
		t.Errorf("event after Shutdown: stats %+v, want it dropped", st)
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Errorf("Flush after Shutdown with nothing pending = %v", err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown = %v", err)
	}

	// Redis down: Shutdown gives up when its context ends and counts the rest.
	s2 := newStore(t, clientAt(t, srv.Addr()), redisstore.WithFlushInterval(time.Millisecond))
	srv.Stop()
	for range 10 {
		s2.IncrBy(k, 1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s2.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown with Redis down = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v after its deadline", d)
	}
	if st := s2.Stats(); st.Dropped != 10 || st.Pending != 0 {
		t.Errorf("after Shutdown with Redis down: %+v, want 10 dropped", st)
	}
}

func TestFlushHonoursContext(t *testing.T) {
	captureErrors(t)
	srv := redistest.Start(t)
	s := newStore(t, clientAt(t, srv.Addr()))
	srv.Stop()
	s.IncrBy(s.Key("n"), 1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush with Redis down = %v, want DeadlineExceeded", err)
	}
}

func TestNewErrors(t *testing.T) {
	c := redis.NewClient(&redis.Options{})
	defer c.Close()
	tests := []struct {
		name string
		opts []redisstore.Option
	}{
		{"no client", nil},
		{"sub-second ttl", []redisstore.Option{redisstore.WithClient(c), redisstore.WithTTL(time.Millisecond)}},
		{"zero buffer", []redisstore.Option{redisstore.WithClient(c), redisstore.WithBufferSize(0)}},
		{"zero batch", []redisstore.Option{redisstore.WithClient(c), redisstore.WithBatchSize(0)}},
		{"zero interval", []redisstore.Option{redisstore.WithClient(c), redisstore.WithFlushInterval(0)}},
		{"tiny backoff", []redisstore.Option{redisstore.WithClient(c), redisstore.WithMaxBackoff(time.Millisecond)}},
		{"nil client", []redisstore.Option{redisstore.WithClient(nil)}},
		{"typed nil client", []redisstore.Option{redisstore.WithClient((*redis.Client)(nil))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := redisstore.New(tt.opts...)
			if err == nil {
				_ = s.Shutdown(context.Background())
				t.Fatal("New succeeded")
			}
			if err.Error() != strings.ToLower(err.Error()[:1])+err.Error()[1:] || strings.HasSuffix(err.Error(), ".") {
				t.Errorf("error %q is not lowercase without period", err)
			}
		})
	}
}

func TestNilStore(t *testing.T) {
	var s *redisstore.Store
	k := s.Key("x")
	s.PFAdd(k, 1)
	s.IncrBy(k, 1)
	s.SetNX(k, 1, 0)
	s.Expire(k, time.Second)
	if err := s.Flush(context.Background()); err != nil {
		t.Error(err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
	if s.Stats() != (redisstore.Stats{}) {
		t.Error("nil store has stats")
	}
}

func TestHotPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	captureErrors(t)
	// No server: events pile up and the oldest are dropped, which is the
	// most expensive path.
	s := newStore(t, clientAt(t, "127.0.0.1:1"), redisstore.WithBufferSize(1024),
		redisstore.WithFlushInterval(time.Hour))
	k, k2, k3 := s.Key("k"), s.Key("k2"), s.Key("k3")
	var i uint64
	for name, fn := range map[string]func(){
		"PFAdd":     func() { i++; s.PFAdd(k, i) },
		"PFAddEach": func() { i++; s.PFAddEach(i, k, k2, k3) },
		"IncrBy":    func() { s.IncrBy(k, 1) },
		"SetNX":     func() { s.SetNX(k, 1, time.Minute) },
		"Expire":    func() { s.Expire(k, time.Minute) },
		"Push": func() {
			i++
			var ev redisstore.Event
			for _, k := range []redisstore.Key{k, k2, k3} {
				ev.PFAdd(k, i)
				ev.SparseAdd(k, uint32(i), 3)
			}
			s.Push(&ev)
		},
	} {
		if n := testing.AllocsPerRun(5000, fn); n != 0 {
			t.Errorf("%s: %v allocs, want 0", name, n)
		}
	}
}

// TestShutdownSilentServer: against a server that accepts connections and
// never answers, Shutdown returns soon after its deadline, although the
// flusher is in the middle of a round trip, and counts the event dropped.
func TestShutdownSilentServer(t *testing.T) {
	captureErrors(t)
	s, err := redisstore.New(clientAt(t, faultnet.Silent(t)), redisstore.WithFlushInterval(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	s.IncrBy(s.Key("n"), 1)
	time.Sleep(100 * time.Millisecond) // the flusher waits for an answer
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Shutdown took %v with a deadline of 200ms", d)
	}
	if st := s.Stats(); st.Dropped != 1 || st.Pending != 0 {
		t.Errorf("stats %+v, want the event dropped", st)
	}
}

// TestShutdownSilentServerCallersClient: with a caller's client that
// honours context deadlines, against a server that never answers,
// Shutdown returns by its deadline without waiting for the flusher's
// round trip, and counts every event, buffered or in that round trip, as
// dropped once; the round trip's failure, later, counts nothing more.
func TestShutdownSilentServerCallersClient(t *testing.T) {
	captureErrors(t)
	c := redis.NewClient(&redis.Options{Addr: faultnet.Silent(t), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	drop, dropped := dropReader(t)
	s, err := redisstore.New(redisstore.WithClient(c), redisstore.WithFlushInterval(time.Millisecond),
		redisstore.WithBatchSize(16), redisstore.WithDropCounter(drop))
	if err != nil {
		t.Fatal(err)
	}
	k := s.Key("day")
	const n = 100
	for i := range n {
		s.PFAdd(k, uint64(i+1))
	}
	time.Sleep(100 * time.Millisecond) // the flusher waits for an answer with a batch
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Errorf("Shutdown took %v with a deadline of 200ms", d)
	}
	check := func(when string) {
		t.Helper()
		st := s.Stats()
		if st.Pending != 0 || st.Lost != n || st.Dropped != n || st.Written != 0 || st.Enqueued != n {
			t.Errorf("%s: stats %+v, want the %d events enqueued and dropped once", when, st, n)
		}
		if got := dropped(); got != n {
			t.Errorf("%s: drop counter %d, want %d", when, got, n)
		}
	}
	check("after Shutdown")
	time.Sleep(redisstore.WriteTimeout + 300*time.Millisecond) // the round trip in flight has failed
	check("after the round trip in flight ended")
}
