package redisstate_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/kpikit/kpikit/customer/redisstate"
	"github.com/kpikit/kpikit/internal/redistest"
	"github.com/kpikit/kpikit/internal/selfobs"
	"github.com/kpikit/kpikit/internal/shared"
)

// anyOrder is the rule table of order Any: a step not reached is reached,
// a step reached is counted again; an ended attempt takes nothing.
const anyOrder = "1010303010"

// drops is a dropped-event counter read through a manual reader.
type drops struct {
	reader              *sdkmetric.ManualReader
	unavailable, closed selfobs.Reason
}

func newDrops(t *testing.T) *drops {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	c, err := selfobs.New(mp.Meter("test"), "test")
	if err != nil {
		t.Fatal(err)
	}
	return &drops{reader: reader, unavailable: c.Reason("store_unavailable"), closed: c.Reason("closed")}
}

// count returns the drops counted with reason.
func (d *drops) count(t *testing.T, reason string) int64 {
	t.Helper()
	return redisstate.DropCount(t, d.reader, "test", reason)
}

func newStore(t *testing.T, prefix string) *redisstate.Store {
	t.Helper()
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	st, err := redisstate.New(client, redisstate.WithKeyPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// completion is one attempt the state reported completed.
type completion struct {
	Row     string
	Elapsed time.Duration
}

// completions records what a progress state reports as completed.
type completions struct {
	mu   sync.Mutex
	list []completion
}

func (c *completions) add(row string, elapsed time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = append(c.list, completion{row, elapsed})
}

func (c *completions) get() []completion {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.list
}

// TestProgressPushRead drives the boundary directly: events start
// attempts only with a row, join the attempt less than a window after its
// start (an earlier event counts at the start), follow the rule table,
// and the counts read back are keyed by row; completed attempts are
// reported with their row and time; after Shutdown, Push drops and counts
// as closed, Flush fails, Read still works.
func TestProgressPushRead(t *testing.T) {
	st := newStore(t, "test:push:")
	d := newDrops(t)
	var done completions
	p, err := st.NewProgress(shared.ProgressConfig{
		Kind: shared.GoalProgress, Name: "g", Steps: 2, Window: time.Hour, CountEvents: true, Rules: anyOrder,
		Unavailable: d.unavailable, Closed: d.closed, Completed: done.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC).UnixNano()
	sec := int64(time.Second)
	events := []struct {
		user uint64
		at   int64
		step int
		row  string
	}{
		{1, t0, 0, "rA"},
		{1, t0 + 2*sec, 1, ""},      // completes after 2 s
		{1, t0 - 60*sec, 1, ""},     // before the start: counts at the start, step reached: an event only
		{2, t0, 1, "rB"},            // starts at step 1
		{3, t0, 1, ""},              // no attempt, no row: ignored
		{1, t0 + 3600*sec, 0, "rB"}, // the window [start, start+1h) has ended: a new attempt in rB
		{2, t0 + 3599*sec, 0, "rA"}, // joins the attempt of rB and completes it
	}
	for _, e := range events {
		if !p.Push(e.user<<32|e.user, e.at, e.step, e.row) {
			t.Fatalf("Push(%v) dropped", e)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := p.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*shared.ProgressCounts{
		"rA": {Users: [32]int64{1, 1}, Events: [32]int64{1, 2}},
		"rB": {Users: [32]int64{2, 1}, Events: [32]int64{2, 1}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	wantDone := []completion{{"rA", 2 * time.Second}, {"rB", 3599 * time.Second}}
	if diff := cmp.Diff(wantDone, done.get()); diff != "" {
		t.Errorf("completed (-want +got):\n%s", diff)
	}

	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if p.Push(9, t0, 0, "rA") {
		t.Error("Push after Shutdown accepted")
	}
	if err := p.Flush(ctx); err == nil {
		t.Error("Flush after Shutdown succeeded")
	}
	if got, err := p.Read(ctx); err != nil || len(got) != 2 {
		t.Errorf("Read after Shutdown: %d rows, %v", len(got), err)
	}
	if n := d.count(t, "closed"); n != 1 {
		t.Errorf("closed = %d, want 1", n)
	}
	if n := d.count(t, "store_unavailable"); n != 0 {
		t.Errorf("store_unavailable = %d, want 0", n)
	}
}

// TestNewProgressErrors: a nil store, and each value of the configuration
// that cannot work, is an error naming it; nothing panics.
func TestNewProgressErrors(t *testing.T) {
	ok := shared.ProgressConfig{Kind: shared.FunnelProgress, Name: "f", Steps: 2, Window: time.Hour, Rules: anyOrder}
	var nilStore *redisstate.Store
	if p, err := nilStore.NewProgress(ok); p != nil || err == nil {
		t.Errorf("nil store: %v, %v; want an error", p, err)
	}
	client := redis.NewClient(&redis.Options{Addr: "localhost:1", ContextTimeoutEnabled: true})
	defer func() { _ = client.Close() }()
	st, err := redisstate.New(client)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*shared.ProgressConfig)
		want string
	}{
		{"kind", func(c *shared.ProgressConfig) { c.Kind = 0 }, "kind 0"},
		{"name", func(c *shared.ProgressConfig) { c.Name = "" }, "name"},
		{"no steps", func(c *shared.ProgressConfig) { c.Steps = 0 }, "0 steps"},
		{"too many steps", func(c *shared.ProgressConfig) { c.Steps = 33 }, "33 steps"},
		{"window", func(c *shared.ProgressConfig) { c.Window = -time.Second }, "-1s"},
		{"short rules", func(c *shared.ProgressConfig) { c.Rules = "1" }, `"1"`},
		{"bad digit", func(c *shared.ProgressConfig) { c.Rules = "101030301x" }, `"101030301x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			p, err := st.NewProgress(cfg)
			if p != nil || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewProgress(%+v) = %v, %v; want an error with %q", cfg, p, err, tt.want)
			}
		})
	}
	p, err := st.NewProgress(ok)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown with nothing buffered: %v", err)
	}
}

// TestProgressAllSteps: with the most steps, the last step's bit is kept
// across flushes (the attempt is read back from Redis between events),
// an attempt that reached every step completes once, and a step reached
// again is counted as an event only.
func TestProgressAllSteps(t *testing.T) {
	st := newStore(t, "test:steps:")
	const n = shared.MaxProgressSteps
	var done completions
	p, err := st.NewProgress(shared.ProgressConfig{
		Kind: shared.FunnelProgress, Name: "f", Steps: n, Window: time.Hour, CountEvents: true, Rules: anyOrder,
		Completed: done.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Shutdown(context.Background()) }()
	ctx := context.Background()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC).UnixNano()
	push := func(i, k int) {
		if !p.Push(7<<32|7, t0+int64(i)*int64(time.Second), k, "r") {
			t.Fatalf("Push(%d) dropped", k)
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Step n-1 first, then every other step from the last down, each in
	// its own flush; then n-1 and 0 again.
	push(0, n-1)
	for k := n - 2; k >= 0; k-- {
		push(n-1-k, k)
	}
	push(n, n-1)
	push(n+1, 0)
	got, err := p.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := &shared.ProgressCounts{}
	for k := range n {
		want.Users[k], want.Events[k] = 1, 1
	}
	want.Events[n-1], want.Events[0] = 2, 2
	if diff := cmp.Diff(map[string]*shared.ProgressCounts{"r": want}, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]completion{{"r", (n - 1) * time.Second}}, done.get()); diff != "" {
		t.Errorf("completed (-want +got):\n%s", diff)
	}
}
