package customer_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/customer/redisstate"
	"github.com/kpikit/kpikit/internal/errcapture"
	"github.com/kpikit/kpikit/internal/redistest"
)

// stateNow is the clock of the state tests: the last event time.
var stateNow = time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)

// stateEvent is one recording call of the state tests.
type stateEvent struct {
	at       time.Time
	user     string
	signup   time.Time
	kind     int // 0 active, 1 purchase, 2 refund
	currency string
	amount   int64
	replica  int // the replica that receives it in the replica test
}

func (e stateEvent) apply(ctx context.Context, a *customer.Activity) {
	switch e.kind {
	case 0:
		a.ActiveAt(ctx, e.at, e.user, e.signup)
	case 1:
		a.PurchaseAt(ctx, e.at, e.user, e.signup, e.currency, e.amount)
	default:
		a.RefundAt(ctx, e.at, e.user, e.signup, e.currency, e.amount)
	}
}

// stateEvents returns n events of users with a signup time (any replica
// receives them) and of users without one (first-seen cohort; one replica
// receives all the events of such a user, as with sticky sessions), over
// the 79 days up to stateNow, in time order per user.
func stateEvents(n, users int) []stateEvent {
	r := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	span := stateNow.Sub(start)
	signups := make([]time.Time, users)
	for i := range signups {
		if i%7 != 0 { // every seventh user has no signup time
			signups[i] = start.Add(time.Duration(r.Int64N(int64(span / 2))))
		}
	}
	out := make([]stateEvent, n)
	for i := range out {
		u := r.IntN(users)
		e := stateEvent{
			user:    "user-" + itoa(u),
			signup:  signups[u],
			replica: r.IntN(3),
		}
		lo := start
		if !e.signup.IsZero() {
			lo = e.signup
		} else {
			e.replica = u % 3
		}
		e.at = lo.Add(time.Duration(r.Int64N(int64(stateNow.Sub(lo)))))
		switch x := r.IntN(100); {
		case x < 25:
			e.kind, e.currency, e.amount = 1, "USD", 100+r.Int64N(10000)
		case x < 30:
			e.kind, e.currency, e.amount = 1, "EUR", 100+r.Int64N(10000)
		case x < 33:
			e.kind, e.currency, e.amount = 2, "USD", 100+r.Int64N(1000)
		}
		out[i] = e
	}
	return out
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}

// redisOpt is the option WithState of redisState.
func redisOpt(tb testing.TB, addr string, opts ...redisstate.Option) customer.Option {
	tb.Helper()
	return customer.WithState(redisState(tb, addr, opts...))
}

// clusterOpt is the option WithState of clusterState.
func clusterOpt(tb testing.TB, addrs []string, opts ...redisstate.Option) customer.Option {
	tb.Helper()
	return customer.WithState(clusterState(tb, addrs, opts...))
}

func stateOptions(h *harness, extra ...customer.Option) []customer.Option {
	return append([]customer.Option{
		customer.WithMeterProvider(h.mp), customer.WithPeriod(customer.Month), customer.WithHorizon(3),
		customer.WithCurrencies("USD", "EUR"), customer.WithClock(func() time.Time { return stateNow }),
	}, extra...)
}

func newStateActivity(t testing.TB, name string, h *harness, extra ...customer.Option) *customer.Activity {
	t.Helper()
	a, err := customer.NewActivity(name, stateOptions(h, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// customerMetrics keeps the customer.* metrics of rm, dropping the
// per-replica tracked-users count when perReplica is false.
func customerMetrics(rm metricdata.ResourceMetrics, perReplica bool) []metricdata.Metrics {
	var out []metricdata.Metrics
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if !strings.HasPrefix(m.Name, "customer.") || !perReplica && m.Name == customer.MetricActivityTrackedUsers {
				continue
			}
			out = append(out, m)
		}
	}
	return out
}

func customerPoints(rm metricdata.ResourceMetrics) map[string]float64 {
	p := flatten(rm)
	for k := range p {
		if !strings.HasPrefix(k, "customer.") || strings.HasPrefix(k, customer.MetricActivityTrackedUsers) {
			delete(p, k)
		}
	}
	return p
}

// exactMetric says whether a metric is exact with every store: money and
// counts of purchases and refunds.
func exactMetric(key string) bool {
	return isMetric(key, customer.MetricRevenueAmount, customer.MetricRevenuePurchases,
		customer.MetricRevenueRefunds, customer.MetricCohortRevenue, customer.MetricCohortPurchases)
}

// isMetric says whether key is a point of one of metrics.
func isMetric(key string, metrics ...string) bool {
	for _, m := range metrics {
		if strings.HasPrefix(key, m+"{") {
			return true
		}
	}
	return false
}

// within says whether got is want within the error of distinct counts:
// 2% and 2 users for counts, 0.03 for ratios, 3% for amounts per user.
func within(key string, got, want float64) bool {
	switch {
	case exactMetric(key):
		return got == want
	case strings.HasPrefix(key, customer.MetricRetentionRatio), strings.HasPrefix(key, customer.MetricActiveStickiness):
		return math.Abs(got-want) <= 0.03
	default:
		return math.Abs(got-want) <= 0.02*math.Max(math.Abs(got), math.Abs(want))+2
	}
}

// TestActivityRedisReplicas feeds the events of three replicas into one
// Redis and all of them into one in-memory recorder: every replica
// reports the same values, money exactly as in memory and distinct counts
// within the HyperLogLog error.
func TestActivityRedisReplicas(t *testing.T) {
	srv := redistest.Start(t)
	checkReplicas(t, redisOpt(t, srv.Addr(), redisstate.WithKeyPrefix("test:replicas:")))
}

// TestActivityRedisClusterReplicas is TestActivityRedisReplicas on a real
// Redis Cluster of three masters: every key of the activity carries its
// hash tag, so the multi-key reads (PFCOUNT unions, MGET) and the money
// script run in one slot, and the replicas report what memory does.
func TestActivityRedisClusterReplicas(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	checkReplicas(t, clusterOpt(t, cl.Addrs(), redisstate.WithKeyPrefix("test:replicas:")))
}

// feedReplicas feeds events to three replicas on the state stateOpt
// makes, each its third (stateEvent.replica), and every event to one
// in-memory activity; it flushes the replicas and returns the harnesses of
// the memory activity and of the replicas.
func feedReplicas(t *testing.T, events []stateEvent, stateOpt func(t *testing.T) customer.Option) (*harness, [3]*harness) {
	t.Helper()
	ctx := context.Background()
	mem := newHarness(t)
	want := newStateActivity(t, "shop", mem)
	var replicas [3]*customer.Activity
	var harnesses [3]*harness
	for i := range replicas {
		harnesses[i] = newHarness(t)
		replicas[i] = newStateActivity(t, "shop", harnesses[i], stateOpt(t))
	}
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			for _, e := range events {
				if e.replica == i {
					e.apply(ctx, replicas[i])
				}
			}
		})
	}
	for _, e := range events {
		e.apply(ctx, want)
	}
	wg.Wait()
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, r := range replicas {
		if err := r.Flush(fctx); err != nil {
			t.Fatal(err)
		}
	}
	return mem, harnesses
}

// checkReplicas feeds a third of a random event stream to each of three
// replicas on the state of stateOpt and every event to one in-memory
// activity, and compares what they report.
func checkReplicas(t *testing.T, stateOpt customer.Option) {
	mem, harnesses := feedReplicas(t, stateEvents(9000, 1500), func(*testing.T) customer.Option { return stateOpt })

	// A replica that started after the others and recorded nothing reports
	// the same values.
	late := newHarness(t)
	newStateActivity(t, "shop", late, stateOpt)

	wantRM := mem.collect(t)
	wantPoints := customerPoints(wantRM)
	if len(wantPoints) < 50 {
		t.Fatalf("only %d points in memory: %v", len(wantPoints), wantPoints)
	}
	t.Logf("comparing %d points of %d replicas", len(wantPoints), len(harnesses)+1)
	var first map[string]float64
	for i, h := range append(harnesses[:], late) {
		rm := h.collect(t)
		got := customerPoints(rm)
		if dropped := flatten(rm)[`kpikit.dropped{kpikit.component=customer.activity,reason=store_unavailable}`]; dropped != 0 {
			t.Errorf("replica %d dropped %v writes", i, dropped)
		}
		checkReplica(t, i, got, wantPoints, within, &first)
	}
}

// checkReplica compares the points of replica i with those of memory,
// want, point by point with match, and with those of the first replica
// checked, *first (set by the first call): every replica must report the
// same figures.
func checkReplica(t *testing.T, i int, got, want map[string]float64, match func(key string, got, want float64) bool, first *map[string]float64) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("replica %d: %s missing, want %v", i, k, w)
		case !match(k, g, w):
			t.Errorf("replica %d: %s = %v, want %v", i, k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("replica %d: unexpected %s = %v", i, k, g)
		}
	}
	if *first == nil {
		*first = got
		return
	}
	for k, g := range got {
		if (*first)[k] != g {
			t.Errorf("replica %d: %s = %v, replica 0 says %v", i, k, g, (*first)[k])
		}
	}
}

// TestActivityRedisOutage kills Redis in the middle of recording and
// restarts it: the buffer holds the writes meanwhile, totals are exact
// after recovery and nothing is counted as dropped.
func TestActivityRedisOutage(t *testing.T) {
	srv := redistest.Start(t, redistest.WithDurable())
	ctx := context.Background()
	h := newHarness(t)
	a := newStateActivity(t, "outage", h, redisOpt(t, srv.Addr()))
	signup := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	const n = 300
	buy := func(from, to int) {
		for i := from; i < to; i++ {
			a.PurchaseAt(ctx, stateNow, "user-"+itoa(i), signup, "USD", int64(100+i))
		}
	}
	buy(0, n)
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := a.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	reported := captureErrors(t)
	srv.Kill()
	buy(n, 2*n)
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	if err := a.Flush(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush with Redis down = %v, want a deadline error", err)
	}
	cancelShort()
	waitFor(t, "a write error to be reported", func() bool { return len(reported()) > 0 })
	buy(2*n, 3*n)
	srv.Restart()
	if err := a.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	var wantRev int64
	for i := range 3 * n {
		wantRev += int64(100 + i)
	}
	p := h.points(t)
	checks := []struct {
		key  string
		want float64
	}{
		{customer.MetricRevenuePurchases + "{activity=outage,currency=USD,period=2026-03}", 3 * n},
		{customer.MetricRevenueAmount + "{activity=outage,currency=USD,period=2026-03}", float64(wantRev) / 100},
		{customer.MetricCohortPurchases + "{activity=outage,cohort.offset=0,cohort=2026-03,currency=USD}", 3 * n},
		{customer.MetricRevenuePayingUsers + "{activity=outage,currency=USD,period=2026-03}", 3 * n},
		{customer.MetricRetentionCohortSize + "{activity=outage,cohort=2026-03}", 3 * n},
		{`kpikit.dropped{kpikit.component=customer.activity,reason=store_unavailable}`, 0},
	}
	for _, c := range checks {
		if got := p[c.key]; !within(c.key, got, c.want) {
			t.Errorf("%s = %v, want %v", c.key, got, c.want)
		}
	}
}

// captureErrors records what is reported through the OTel error handler
// until the test ends.
func captureErrors(t *testing.T) func() []error { return errcapture.Capture(t) }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestActivitySnapshot writes a snapshot, throws the recorder away and
// loads the snapshot into a new one: the collected metrics are identical.
func TestActivitySnapshot(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "activity.snap")
	h1 := newHarness(t)
	a1 := newStateActivity(t, "snap", h1, customer.WithSnapshot(path, time.Hour))
	for _, e := range stateEvents(3000, 800) {
		e.apply(ctx, a1)
	}
	want := h1.collect(t)
	if err := a1.Close(); err != nil {
		t.Fatal(err)
	}
	h2 := newHarness(t)
	newStateActivity(t, "snap", h2, customer.WithSnapshot(path, 0))
	got := h2.collect(t)
	wm, gm := customerMetrics(want, true), customerMetrics(got, true)
	if len(wm) < 10 {
		t.Fatalf("only %d metrics", len(wm))
	}
	if len(gm) != len(wm) {
		t.Fatalf("%d metrics after loading, want %d", len(gm), len(wm))
	}
	for i := range wm {
		metricdatatest.AssertEqual(t, wm[i], gm[i], metricdatatest.IgnoreTimestamp())
	}
}

// TestActivitySnapshotBad starts from a corrupt file and from one written
// by another configuration: each is moved aside, the error is reported and
// the recorder starts empty and writes a good snapshot on Close.
func TestActivitySnapshotBad(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		aside   string
	}{
		{"corrupt", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("not a snapshot at all, just some bytes"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, ".corrupt-"},
		{"other currencies", func(t *testing.T, path string) {
			a, err := customer.NewActivity("snap", customer.WithCurrencies("JPY"), customer.WithSnapshot(path, 0),
				customer.WithMeterProvider(newHarness(t).mp))
			if err != nil {
				t.Fatal(err)
			}
			a.PurchaseAt(context.Background(), stateNow, "u", stateNow, "JPY", 5)
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
		}, ".incompatible-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "activity.snap")
			tt.prepare(t, path)
			errs := captureErrors(t)
			h := newHarness(t)
			a := newStateActivity(t, "snap", h, customer.WithSnapshot(path, 0))
			got := errs()
			if len(got) != 1 || !strings.Contains(got[0].Error(), "moved aside") {
				t.Errorf("reported errors %v, want one that says the file was moved aside", got)
			}
			matches, _ := filepath.Glob(path + tt.aside + "*")
			if len(matches) != 1 {
				t.Errorf("files %s%s*: %v, want one", path, tt.aside, matches)
			}
			if p := customerPoints(h.collect(t)); len(p) != 0 {
				t.Errorf("state after a bad snapshot: %v, want none", p)
			}
			a.ActiveAt(context.Background(), stateNow, "u", stateNow)
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			h2 := newHarness(t)
			newStateActivity(t, "snap", h2, customer.WithSnapshot(path, 0))
			key := customer.MetricActivePeriodUsers + "{activity=snap,period=2026-03}"
			if p := h2.points(t); p[key] != 1 {
				t.Errorf("after reload %s = %v, want 1", key, p[key])
			}
		})
	}
}

func TestActivityStateOptions(t *testing.T) {
	tests := []struct {
		name string
		opts []customer.Option
		want string
	}{
		{"empty path", []customer.Option{customer.WithSnapshot("", 0)}, "snapshot path is empty"},
		{"negative interval", []customer.Option{customer.WithSnapshot("x", -time.Second)}, "negative"},
		{"snapshot and state", []customer.Option{customer.WithSnapshot("x", 0), redisOpt(t, "localhost:1")}, "exclude each other"},
		{"nil state", []customer.Option{customer.WithState(nil)}, "WithState(nil)"},
		{"nil store", []customer.Option{customer.WithState((*redisstate.Store)(nil))}, "nil *Store"},
		{"missing directory", []customer.Option{customer.WithSnapshot(filepath.Join(t.TempDir(), "no", "file"), 0)}, "directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := customer.NewActivity("x", tt.opts...)
			if err == nil || !errors.Is(err, customer.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewActivity(%s) error = %v, want one wrapping ErrInvalidConfig with %q", tt.name, err, tt.want)
			}
		})
	}
}

// TestProgressSnapshot snapshots a funnel and a goal with segments and
// users in progress, and loads each into a new recorder: the collected
// metrics are identical, and the users' progress continues.
func TestProgressSnapshot(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := newClock(t0.Add(time.Hour))
	steps := []string{"view", "cart", "pay"}
	opts := func(h *harness, file string) []customer.Option {
		return []customer.Option{customer.WithMeterProvider(h.mp), customer.WithClock(clock.Now),
			customer.WithSegments("plan"), customer.WithSegmentValueLimit(2),
			customer.WithSnapshot(filepath.Join(dir, file), time.Minute)}
	}
	h1 := newHarness(t)
	f1 := mustFunnel(t, "checkout", steps, opts(h1, "funnel.snap")...)
	g1 := mustGoal(t, "signup", opts(h1, "goal.snap")...)
	t.Cleanup(func() { _ = f1.Close(); _ = g1.Close() })
	plans := []string{"free", "pro", "team", ""} // "team" overflows the limit
	for i := range 200 {
		u := "user-" + itoa(i)
		at := t0.Add(time.Duration(i) * time.Second)
		f1.StepAt(ctx, at, u, "view", plans[i%4])
		g1.ExposeAt(ctx, at, u, plans[i%4])
		if i%2 == 0 {
			f1.StepAt(ctx, at.Add(time.Minute), u, "cart")
		}
		if i%3 == 0 {
			g1.ConvertAt(ctx, at.Add(time.Minute), u)
		}
	}
	want := h1.collect(t)
	if err := f1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g1.Close(); err != nil {
		t.Fatal(err)
	}
	h2 := newHarness(t)
	f2 := mustFunnel(t, "checkout", steps, opts(h2, "funnel.snap")...)
	g2 := mustGoal(t, "signup", opts(h2, "goal.snap")...)
	t.Cleanup(func() { _ = f2.Close(); _ = g2.Close() })
	got := h2.collect(t)
	// The time-to-convert histograms hold recorded events, not state.
	noHist := func(ms []metricdata.Metrics) []metricdata.Metrics {
		var out []metricdata.Metrics
		for _, m := range ms {
			if !strings.HasSuffix(m.Name, "time_to_convert") {
				out = append(out, m)
			}
		}
		return out
	}
	wm, gm := noHist(customerMetrics(want, true)), noHist(customerMetrics(got, true))
	if len(wm) < 5 || len(gm) != len(wm) {
		t.Fatalf("%d metrics after loading, want %d (at least 5)", len(gm), len(wm))
	}
	for i := range wm {
		metricdatatest.AssertEqual(t, wm[i], gm[i], metricdatatest.IgnoreTimestamp())
	}
	// Progress continues: user-0 viewed and added to cart before the restart.
	f2.StepAt(ctx, t0.Add(2*time.Minute), "user-0", "pay")
	g2.ConvertAt(ctx, t0.Add(2*time.Minute), "user-1")
	p := h2.points(t)
	if k := customer.MetricFunnelUsers + "{funnel.step.index=3,funnel.step=pay,funnel=checkout,plan=free}"; p[k] != 1 {
		t.Errorf("%s = %v, want 1 (%v)", k, p[k], only(p, customer.MetricFunnelUsers))
	}
	if k := customer.MetricGoalConvertedUsers + "{goal=signup,plan=pro}"; p[k] != wantPoint(want, k)+1 {
		t.Errorf("%s = %v, want one more than before the restart", k, p[k])
	}
}

func wantPoint(rm metricdata.ResourceMetrics, key string) float64 { return flatten(rm)[key] }

// TestProgressSnapshotIncompatible loads a funnel's snapshot into a funnel
// with other steps: the file is moved aside, the error reported, and the
// funnel starts empty.
func TestProgressSnapshotIncompatible(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "funnel.snap")
	f1, err := customer.NewFunnel("checkout", []string{"a", "b"}, customer.WithMeterProvider(newHarness(t).mp),
		customer.WithSnapshot(path, 0), customer.WithClock(func() time.Time { return t0 }))
	if err != nil {
		t.Fatal(err)
	}
	f1.StepAt(ctx, t0, "u", "a")
	if err := f1.Close(); err != nil {
		t.Fatal(err)
	}
	reported := captureErrors(t)
	h := newHarness(t)
	f2, err := customer.NewFunnel("checkout", []string{"a", "b", "c"}, customer.WithMeterProvider(h.mp),
		customer.WithSnapshot(path, 0), customer.WithClock(func() time.Time { return t0 }))
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	if got := reported(); len(got) != 1 || !strings.Contains(got[0].Error(), "moved aside") {
		t.Errorf("reported errors %v, want one that says the file was moved aside", got)
	}
	if m, _ := filepath.Glob(path + ".incompatible-*"); len(m) != 1 {
		t.Errorf("files moved aside: %v, want one", m)
	}
	for k, v := range only(h.points(t), customer.MetricFunnelUsers) {
		if v != 0 {
			t.Errorf("%s = %v after a bad snapshot, want 0", k, v)
		}
	}
}

// TestActivityRedisShutdownDeadline shuts a recorder down while Redis is
// down: Shutdown returns when its context ends, and the writes it could
// not deliver are counted as dropped.
func TestActivityRedisShutdownDeadline(t *testing.T) {
	srv := redistest.Start(t)
	h := newHarness(t)
	a := newStateActivity(t, "deadline", h, redisOpt(t, srv.Addr()))
	captureErrors(t) // the flusher reports the outage
	srv.Kill()
	for i := range 50 {
		a.PurchaseAt(context.Background(), stateNow, "user-"+itoa(i), stateNow, "USD", 100)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := a.Shutdown(ctx)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Shutdown took %v with a 300ms deadline", took)
	}
	if err == nil {
		t.Error("Shutdown with Redis down returned nil, want an error")
	}
	key := `kpikit.dropped{kpikit.component=customer.activity,reason=store_unavailable}`
	if got := h.points(t)[key]; got == 0 {
		t.Errorf("%s = 0 after a shutdown that could not write", key)
	}
	if err := a.Close(); err != nil {
		t.Errorf("Close after Shutdown = %v, want nil", err)
	}
}
