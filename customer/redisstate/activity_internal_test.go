package redisstate

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/kpikit/kpikit/internal/period"
	"github.com/kpikit/kpikit/internal/redistest"
	"github.com/kpikit/kpikit/internal/selfobs"
	"github.com/kpikit/kpikit/internal/shared"
	"github.com/kpikit/kpikit/internal/sketch"
)

// declared are currency slots fixed at construction, as an activity with
// declared currencies has them.
type declared []string

func (d declared) Declared() bool    { return true }
func (d declared) Slots() int        { return len(d) }
func (d declared) Len() int          { return len(d) }
func (d declared) Code(i int) string { return d[i] }
func (d declared) Take(string)       {}

// testActivity is the Redis state of a monthly activity in USD, its drop
// reasons counted on an SDK reader, and the cohorts it resolved.
type testActivity struct {
	*activity
	reader   *sdkmetric.ManualReader
	resolved map[uint64]int64
}

func newTestActivity(t *testing.T, addr, name string, opts ...Option) *testActivity {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	st, err := New(client, opts...)
	if err != nil {
		t.Fatal(err)
	}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	dropped, err := selfobs.New(mp.Meter("test"), "customer.activity")
	if err != nil {
		t.Fatal(err)
	}
	ta := &testActivity{reader: reader, resolved: map[uint64]int64{}}
	sa, err := st.NewActivity(shared.ActivityConfig{
		Name: name, Unit: period.Month, Location: time.UTC, Horizon: 3, Currencies: declared{"USD"},
		Drops: shared.ActivityDrops{Unavailable: dropped.Reason("store_unavailable"), Overflow: dropped.Reason("amount_overflow"),
			BeforeCohort: dropped.Reason("before_cohort"), Late: dropped.Reason("late_event")},
		Resolved: func(user uint64, cohort int64) { ta.resolved[user] = cohort },
	})
	if err != nil {
		t.Fatal(err)
	}
	ta.activity = sa.(*activity)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = ta.Shutdown(ctx)
	})
	return ta
}

// dropped returns the drop counter of reason.
func (ta *testActivity) dropped(t *testing.T, reason string) int64 {
	t.Helper()
	return DropCount(t, ta.reader, "customer.activity", reason)
}

// testNow is the time of the events of these tests, and its day and
// month indexes.
var (
	testNow   = time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)
	testDay   = period.DayOfUnix(testNow.Unix())
	testMonth = period.Month.IndexOfDay(testDay)
)

// TestActivityRedisOverflow kills Redis and records more writes than the
// buffer holds: after recovery every write was either written or counted
// on kpikit.dropped{reason="store_unavailable"}, and the counter equals the
// store's own count of dropped writes.
func TestActivityRedisOverflow(t *testing.T) {
	srv := redistest.Start(t, redistest.WithDurable())
	ctx := context.Background()
	const buffer = 64
	a := newTestActivity(t, srv.Addr(), "overflow", WithBufferSize(buffer))
	active := func(from, to int) {
		for i := from; i < to; i++ {
			// Two PFADDs: cohort cell, day.
			a.Record(shared.ActivityEvent{User: sketch.Hash("user-" + strconv.Itoa(i)), Period: testMonth,
				Cohort: testMonth, Known: true, Day: testDay})
		}
	}
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	const n = 100
	for i := 0; i < n; i += 10 { // in steps that fit the buffer
		active(i, i+10)
		if err := a.Flush(fctx); err != nil {
			t.Fatal(err)
		}
	}
	before := a.store.Stats()
	srv.Kill()
	active(n, 3*n) // about 800 writes into a buffer of 64
	srv.Restart()
	if err := a.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	st := a.store.Stats()
	if st.Pending != 0 || st.Enqueued != st.Written+st.Dropped+st.Rejected {
		t.Errorf("stats %+v: enqueued is not written + dropped + rejected", st)
	}
	// Each event adds its user's fingerprint to the companions of its two
	// keys, and PFADDs to the keys unless the users written before already
	// hold as much in its registers: a few of the 200.
	writes := st.Enqueued - before.Enqueued
	if writes > 4*2*n || writes < 4*2*n*95/100 {
		t.Errorf("%d writes buffered for %d events of two keys", writes, 2*n)
	}
	if minDrop := writes - 2*buffer; st.Dropped < minDrop {
		t.Errorf("dropped %d writes, want at least %d (%d writes, buffer %d)", st.Dropped, minDrop, writes, buffer)
	}
	f, err := a.Read(fctx, shared.ActivityQuery{Top: testMonth, Today: testDay})
	if err != nil {
		t.Fatal(err)
	}
	users := int64(f.Periods[len(f.Periods)-1].Active)
	dropped := a.dropped(t, "store_unavailable")
	// Each event needed up to four writes (its day and its cohort cell,
	// each a PFADD and a fingerprint), dropped together and counted once.
	if dropped != int64(st.Lost) || st.Dropped > 4*st.Lost || st.Dropped < 3*st.Lost {
		t.Errorf("kpikit.dropped{reason=store_unavailable} = %d, store lost %d events of %d writes, want the counter = events and 3 or 4 writes each", dropped, st.Lost, st.Dropped)
	}
	t.Logf("store stats %+v; kpikit.dropped{reason=store_unavailable} = %d; active users %d", st, dropped, users)
	// The users written before the outage are all there, and of those
	// recorded during it every one whose event was not lost: the
	// companions count them exactly.
	if want := 3*n - int64(st.Lost); users != want {
		t.Errorf("active users = %d, want %d (%d users, %d events lost)", users, want, 3*n, st.Lost)
	}
}

// TestMoneyScriptOnce sends one hand-over twice, as after a lost reply:
// Redis applies it once, and the retry acknowledges it.
func TestMoneyScriptOnce(t *testing.T) {
	srv := redistest.Start(t)
	a := newTestActivity(t, srv.Addr(), "once")
	ctx := context.Background()
	if !a.moneyMu.lock(ctx) { // keep the goroutine out
		t.Fatal("lock")
	}
	a.Record(shared.ActivityEvent{User: sketch.Hash("u1"), Period: testMonth, Cohort: testMonth, Known: true,
		Day: testDay, Kind: shared.Purchase, Amount: 1234})
	w := &a.money
	if !a.buildMoney(w) {
		t.Fatal("nothing pending after a purchase")
	}
	b := &w.batch
	args := append([]any{b.seq, int64(moneyGuardTTL / time.Second), a.ttl.Milliseconds(), len(b.groups)}, b.args...)
	keys := append([]string{w.guard}, b.keys...)
	if err := moneyRedisScript.Run(ctx, a.client, keys, args...).Err(); err != nil && err != redis.Nil {
		t.Fatal(err)
	}
	// The reply was "lost": the writer sends the same hand-over again.
	if err := a.writeMoney(ctx, w); err != nil {
		t.Fatal(err)
	}
	a.moneyMu.unlock()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	rev, err := c.Get(ctx, b.keys[0]).Int64()
	if err != nil {
		t.Fatal(err)
	}
	if rev != 1234 {
		t.Errorf("%s = %d after a hand-over sent twice, want 1234", b.keys[0], rev)
	}
	if p := a.periods.Get(testMonth).V.money[0].pending.revenue.Load(); p != 0 {
		t.Errorf("pending revenue after the acknowledgement = %d, want 0", p)
	}
}

// TestActivityKeys: every key an activity writes starts with the store's
// prefix and carries the hash tag {a:<name>}, so that on Redis Cluster
// each script and multi-key read touches one slot.
func TestActivityKeys(t *testing.T) {
	srv := redistest.Start(t)
	a := newTestActivity(t, srv.Addr(), "shop", WithKeyPrefix("app:"))
	ctx := context.Background()
	a.Record(shared.ActivityEvent{User: sketch.Hash("u1"), Period: testMonth, Cohort: testMonth, Known: true,
		Day: testDay, Kind: shared.Purchase, Amount: 500})
	if !a.Defer(shared.ActivityEvent{User: sketch.Hash("u2"), Period: testMonth, Day: testDay}) {
		t.Fatal("Defer refused an event")
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var first bool
	for _, k := range keys {
		if !strings.HasPrefix(k, "app:{a:shop}:") {
			t.Errorf("key %q lacks the prefix and hash tag app:{a:shop}:", k)
		}
		first = first || strings.HasPrefix(k, "app:{a:shop}:first:")
	}
	if len(keys) < 6 || !first {
		t.Errorf("keys %q: want the day, cell, paying, money and first-seen keys", keys)
	}
	if got, ok := a.resolved[sketch.Hash("u2")]; !ok || got != testMonth {
		t.Errorf("resolved cohort of u2 = %d, %v; want %d", got, ok, testMonth)
	}
}

// TestActivityConfigErrors: NewActivity names each field of the
// configuration that cannot work, and starts nothing.
func TestActivityConfigErrors(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "localhost:1", ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	st, err := New(client)
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.NewActivity(shared.ActivityConfig{Name: "x", Unit: period.Unit(99), Horizon: 0})
	if a != nil || err == nil {
		t.Fatalf("NewActivity = %v, %v; want an error", a, err)
	}
	for _, w := range []string{"period unit 99", "horizon 0", "nil location", "nil currencies", "nil Resolved"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %q", err, w)
		}
	}
}

// TestActivityDeferAfterShutdown: once shut down, the state refuses
// deferred events (the recorder counts them) and counts none twice.
func TestActivityDeferAfterShutdown(t *testing.T) {
	srv := redistest.Start(t)
	a := newTestActivity(t, srv.Addr(), "late")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if a.Defer(shared.ActivityEvent{User: 1, Period: testMonth, Day: testDay}) {
		t.Error("Defer after Shutdown took the event")
	}
	if got := a.dropped(t, "store_unavailable"); got != 0 {
		t.Errorf("store_unavailable = %d, want 0: the refused event is the recorder's to count", got)
	}
	if f, err := a.Read(ctx, shared.ActivityQuery{Top: testMonth, Today: testDay}); err != nil || len(f.Periods) != 3 {
		t.Errorf("Read after Shutdown = %+v, %v; want the 3 periods of the horizon", f, err)
	}
}
