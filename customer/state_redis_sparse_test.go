package customer_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/customer/redisstate"
	"github.com/kpikit/kpikit/internal/redistest"
)

// companionSuffix ends the name of the companion of a HyperLogLog key
// (see the package documentation of redisstate).
const companionSuffix = ":s"

// sparseEvents returns the events of users distinct users with signup
// times from January to March 2026, each active one to five times (a
// purchase now and then) between its signup and stateNow, and a few of
// them active every day of the last week: the sets of period users,
// cohorts and cells of three monthly periods, and of days.
func sparseEvents(users int, seed uint64) []stateEvent {
	r := rand.New(rand.NewPCG(seed, 11))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []stateEvent
	for u := range users {
		signup := start.Add(time.Duration(r.Int64N(int64(stateNow.Sub(start)))))
		e := stateEvent{user: fmt.Sprint("sparse-user-", u), signup: signup, replica: u % 3}
		for range 1 + r.IntN(5) {
			e.at = signup.Add(time.Duration(r.Int64N(int64(stateNow.Sub(signup)) + 1)))
			e.kind, e.currency, e.amount = 0, "", 0
			if r.IntN(4) == 0 {
				e.kind, e.currency, e.amount = 1, "USD", 100+r.Int64N(5000)
			}
			out = append(out, e)
		}
		if u%5 == 0 {
			for d := range 7 {
				e.at, e.kind, e.currency, e.amount = stateNow.Add(-time.Duration(d)*24*time.Hour), 0, "", 0
				out = append(out, e)
			}
		}
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// countMetric says whether key is a distinct count.
func countMetric(key string) bool {
	return isMetric(key, customer.MetricActiveUsers, customer.MetricActivePeriodUsers, customer.MetricRetentionCohortSize,
		customer.MetricRetentionUsers, customer.MetricRevenuePayingUsers)
}

// sparseMatch says whether got, a figure read from Redis, matches want,
// the same figure in memory: money exactly; a distinct count exactly above
// sketch.ExactLimit (both are the sparse tier's fingerprints) and within
// one user below (memory counts hashes, Redis fingerprints); a ratio or an
// amount per user within what one user changes.
func sparseMatch(key string, got, want float64) bool {
	switch {
	case exactMetric(key):
		return got == want
	case countMetric(key) && want > 1536:
		return got == want
	case countMetric(key):
		return math.Abs(got-want) <= 1
	default:
		return math.Abs(got-want) <= 0.01*math.Abs(want)+0.001
	}
}

// TestActivityRedisSparseExact records 2,000 and 5,000 users into memory
// and into three replicas sharing one Redis, each fed the events of a
// third of the users: every replica reports the same figures, and the
// distinct counts of the memory recorder exactly once they are above
// 1,536 (the companions of the Redis keys hold the same fingerprints as
// the sparse sets in memory), within one user below.
func TestActivityRedisSparseExact(t *testing.T) {
	srv := redistest.Start(t)
	tests := []struct {
		users int
		above int // distinct counts above 1,536 at least
	}{
		{2000, 2},
		{5000, 10},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.users, " users"), func(t *testing.T) {
			prefix := fmt.Sprintf("test:sparse:%d:", tt.users)
			exact, counts := checkSparseReplicas(t, sparseEvents(tt.users, uint64(tt.users)), func(t *testing.T) customer.Option {
				return redisOpt(t, srv.Addr(), redisstate.WithKeyPrefix(prefix))
			})
			if exact < tt.above {
				t.Errorf("%d users: %d distinct counts above 1,536 of %d, want at least %d", tt.users, exact, counts, tt.above)
			}
		})
	}
}

// TestActivityRedisClusterSparse is TestActivityRedisSparseExact on a
// Redis Cluster of three masters: each companion lives on the node of its
// HyperLogLog key (one slot), so one script call and one read see both.
func TestActivityRedisClusterSparse(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	checkSparseReplicas(t, sparseEvents(2000, 9), func(t *testing.T) customer.Option {
		return clusterOpt(t, cl.Addrs(), redisstate.WithKeyPrefix("test:sparse:"))
	})
	ctx := context.Background()
	companions := 0
	for _, n := range cl.Nodes() {
		c := redis.NewClient(&redis.Options{Addr: n.Addr()})
		defer c.Close()
		keys, err := c.Keys(ctx, "test:sparse:*"+companionSuffix).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			companions++
			hll := strings.TrimSuffix(k, companionSuffix)
			if c.Exists(ctx, hll).Val() != 1 {
				t.Errorf("companion %s on %s, its key %s is not", k, n.Addr(), hll)
			}
			if a, b := c.ClusterKeySlot(ctx, k).Val(), c.ClusterKeySlot(ctx, hll).Val(); a != b {
				t.Errorf("companion %s in slot %d, its key in %d", k, a, b)
			}
		}
	}
	if companions < 10 {
		t.Errorf("%d companions in the cluster, want the day, cell and paying keys", companions)
	}
}

// checkSparseReplicas feeds events to an in-memory activity and to three
// replicas on the state stateOpt makes, the events of user u to replica
// u%3, and checks every replica's figures against memory with sparseMatch
// and against each other. It returns how many distinct counts were above
// 1,536, of how many.
func checkSparseReplicas(t *testing.T, events []stateEvent, stateOpt func(t *testing.T) customer.Option) (exact, counts int) {
	mem, harnesses := feedReplicas(t, events, stateOpt)
	wantPoints := customerPoints(mem.collect(t))
	var first map[string]float64
	for i, h := range harnesses {
		checkReplica(t, i, customerPoints(h.collect(t)), wantPoints, sparseMatch, &first)
	}
	for k, w := range wantPoints {
		if countMetric(k) {
			counts++
			if w > 1536 {
				exact++
			}
		}
	}
	t.Logf("%d points; %d distinct counts, %d of them above 1,536", len(wantPoints), counts, exact)
	return exact, counts
}

// TestActivityRedisSparseFull pushes a day past what a companion holds:
// it is counted with PFCOUNT then (the figure is the PFCOUNT of its key),
// within three standard errors (3 x 0.81%) of the truth, and its companion
// is full (one byte) for good. A month of ten days that each fit is
// counted from the union of their companions, in the second sparse tier,
// within 0.25%; each day of the month exactly.
func TestActivityRedisSparseFull(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	signup := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	dayKey := func(activity string, d int) string {
		return "test:full:{a:" + activity + "}:day:" + stateNow.AddDate(0, 0, -d).Format(time.DateOnly)
	}

	h := newHarness(t)
	big := newStateActivity(t, "big", h, redisOpt(t, srv.Addr(), redisstate.WithKeyPrefix("test:full:")))
	const today = 9000
	for u := range today {
		big.ActiveAt(ctx, stateNow, fmt.Sprint("today-", u), signup)
	}
	h2 := newHarness(t)
	month := newStateActivity(t, "month", h2, redisOpt(t, srv.Addr(), redisstate.WithKeyPrefix("test:full:")))
	const perDay, days = 1000, 10
	for d := range days {
		for u := range perDay {
			month.ActiveAt(ctx, stateNow.AddDate(0, 0, -d), fmt.Sprint("day-", d, "-", u), signup)
		}
	}
	for _, a := range []*customer.Activity{big, month} {
		if err := a.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var monthKeys []string
	for d := range days {
		monthKeys = append(monthKeys, dayKey("month", d))
	}
	t.Logf("PFCOUNT of the month's days: %d", c.PFCount(ctx, monthKeys...).Val())
	p, p2 := h.points(t), h2.points(t)
	packedUnion := []string{} // counted by the union of the companions
	tests := []struct {
		name string
		got  float64
		want float64
		pf   []string // the keys whose PFCOUNT the figure is; nil: exact; empty: the union of the companions
	}{
		{"big DAU", p[customer.MetricActiveUsers+"{active.window=1d,activity=big}"], today, []string{dayKey("big", 0)}},
		{"big month", p[customer.MetricActivePeriodUsers+"{activity=big,period=2026-03}"], today, []string{dayKey("big", 0)}},
		// Ten companions of 1,000 users: their union, 10,000 users, is in
		// the second sparse tier (10,053 fingerprints): near-exact.
		{"month MAU", p2[customer.MetricActiveUsers+"{active.window=30d,activity=month}"], days * perDay, packedUnion},
		{"month", p2[customer.MetricActivePeriodUsers+"{activity=month,period=2026-03}"], days * perDay, packedUnion},
		{"month DAU", p2[customer.MetricActiveUsers+"{active.window=1d,activity=month}"], perDay, nil},
	}
	for _, tt := range tests {
		switch {
		case tt.pf == nil:
			if tt.got != tt.want {
				t.Errorf("%s = %v, want %v exactly", tt.name, tt.got, tt.want)
			}
		case len(tt.pf) == 0:
			if math.Abs(tt.got-tt.want) > 0.0025*tt.want {
				t.Errorf("%s = %v, want %v within 0.25%%", tt.name, tt.got, tt.want)
			}
			t.Logf("%s = %v (truth %v, %+.2f%%)", tt.name, tt.got, tt.want, 100*(tt.got-tt.want)/tt.want)
		case math.Abs(tt.got-tt.want) > 3*0.0081*tt.want:
			t.Errorf("%s = %v, want %v within 3 x 0.81%%", tt.name, tt.got, tt.want)
		default:
			if pf := c.PFCount(ctx, tt.pf...).Val(); tt.got != float64(pf) {
				t.Errorf("%s = %v, want the PFCOUNT of its keys, %d", tt.name, tt.got, pf)
			}
			t.Logf("%s = %v (truth %v, %+.2f%%)", tt.name, tt.got, tt.want, 100*(tt.got-tt.want)/tt.want)
		}
	}
	if v, err := c.Get(ctx, dayKey("big", 0)+companionSuffix).Result(); err != nil || len(v) != 1 {
		t.Errorf("companion of the day of %d users: %d bytes (%v), want one (full)", today, len(v), err)
	}
	// One more user changes nothing in the companion.
	big.ActiveAt(ctx, stateNow, "one more", signup)
	if err := big.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get(ctx, dayKey("big", 0)+companionSuffix).Result(); len(v) != 1 {
		t.Errorf("full companion became %d bytes", len(v))
	}
}

// TestActivityRedisSparseAllocs enforces the allocation budget of
// recording with Redis where every event sends fingerprints: the PFADD
// mirror, the sets of fingerprints sent and the buffer allocate nothing
// per event, for users seen before and new ones.
func TestActivityRedisSparseAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	srv := redistest.Start(t)
	ctx := context.Background()
	h := newHarness(t)
	a := newStateActivity(t, "allocs", h, redisOpt(t, srv.Addr(), redisstate.WithKeyPrefix("test:allocs:")))
	signup := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	users := make([]string, 4096)
	for i := range users {
		users[i] = fmt.Sprint("user-", i)
	}
	for _, u := range users[:100] {
		a.PurchaseAt(ctx, stateNow, u, signup, "USD", 1)
	}
	next := 100
	for _, tt := range []struct {
		name string
		fn   func()
	}{
		{"ActiveAt seen", func() { a.ActiveAt(ctx, stateNow, users[7], signup) }},
		{"PurchaseAt seen", func() { a.PurchaseAt(ctx, stateNow, users[8], signup, "USD", 1999) }},
		{"ActiveAt new", func() { a.ActiveAt(ctx, stateNow, users[next%len(users)], signup); next++ }},
		{"PurchaseAt new", func() { a.PurchaseAt(ctx, stateNow, users[next%len(users)], signup, "USD", 5); next++ }},
	} {
		if got := testing.AllocsPerRun(500, tt.fn); got > 0 {
			t.Errorf("%s: %v allocs/op, want 0", tt.name, got)
		}
	}
}
