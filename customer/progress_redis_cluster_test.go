package customer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/customer/redisstate"
	"github.com/kpikit/kpikit/internal/redistest"
)

// TestFunnelRedisCluster: three funnel replicas (separate providers, same
// name and prefix) on a real 3-master Redis Cluster, each fed the events
// that the stream gives it (a user's events spread over the replicas,
// reaching Redis in time order), report exactly what one in-memory funnel
// fed every event reports, for each order; and the funnel's keys are on
// every master.
func TestFunnelRedisCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	ctx := context.Background()
	end := t0.Add(9 * time.Hour)
	clock := func() time.Time { return end }
	for _, order := range []customer.Order{customer.Sequential, customer.Any, customer.Strict} {
		t.Run(order.String(), func(t *testing.T) {
			prefix := "cluster:" + order.String() + ":"
			opts := func(h *harness, extra ...customer.Option) []customer.Option {
				return append([]customer.Option{customer.WithMeterProvider(h.mp), customer.WithClock(clock),
					customer.WithWindow(time.Hour), customer.WithOrder(order), customer.WithSegments("country")}, extra...)
			}
			redisOpts := []customer.Option{customer.WithState(clusterState(t, cl.Addrs(), redisstate.WithKeyPrefix(prefix)))}
			mem := newHarness(t)
			want := closingFunnel(t, "checkout", redisSteps, opts(mem)...)
			var replicas [3]*customer.Funnel
			var hs [3]*harness
			for i := range replicas {
				hs[i] = newHarness(t)
				replicas[i] = closingFunnel(t, "checkout", redisSteps, opts(hs[i], redisOpts...)...)
			}
			for _, round := range progressRounds(uint64(order)+21, 1500, redisSteps) {
				for _, e := range round {
					replicas[e.replica].StepAt(ctx, e.at, e.user, e.step, e.segment)
					want.StepAt(ctx, e.at, e.user, e.step, e.segment)
				}
				flushAll(t, replicas[0], replicas[1], replicas[2])
			}
			wantPoints := progressPoints(mem.points(t))
			if len(wantPoints) < 3*(4+6) {
				t.Fatalf("only %d points in memory: %v", len(wantPoints), wantPoints)
			}
			for i, h := range hs {
				p := h.points(t)
				comparePoints(t, fmt.Sprint("replica ", i), progressPoints(p), wantPoints)
				if d := p[storeUnavailable]; d != 0 {
					t.Errorf("replica %d dropped %v events", i, d)
				}
			}
			for _, addr := range cl.Addrs() {
				users, counts := nodeKeys(t, addr, prefix)
				if users == 0 || counts == 0 {
					t.Errorf("master %s holds %d user keys and %d counts hashes of the funnel, want some of each", addr, users, counts)
				}
			}
		})
	}
}

// nodeKeys counts the user keys and counts hashes under prefix that one
// cluster node holds.
func nodeKeys(t *testing.T, addr, prefix string) (users, counts int) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer func() { _ = c.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		switch k := iter.Val(); {
		case strings.Contains(k, "}:u:"):
			users++
		case strings.HasSuffix(k, "}:counts"):
			counts++
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return users, counts
}
