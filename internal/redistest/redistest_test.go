package redistest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/kpikit/kpikit/internal/redistest"
)

func TestStartStopRestart(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	port := srv.Port()
	srv.Stop()
	if srv.Running() {
		t.Fatal("running after Stop")
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING answered while stopped")
	}
	srv.Restart()
	if srv.Port() != port {
		t.Errorf("port after Restart = %d, want %d", srv.Port(), port)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
	if n, _ := c.Exists(ctx, "k").Result(); n != 0 {
		t.Errorf("non-durable server kept data across a restart")
	}
}

func TestDurableKeepsDataAcrossKill(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.WithDurable())
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	defer c.Close()
	if err := c.IncrBy(ctx, "n", 41).Err(); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	srv.Restart()
	if n, err := c.IncrBy(ctx, "n", 1).Result(); err != nil || n != 42 {
		t.Errorf("INCRBY after kill and restart = %d, %v; want 42", n, err)
	}
}

func TestCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	defer client.Close()
	ctx := context.Background()
	// Keys in every node's slots: the client follows the slot map.
	masters := map[string]bool{}
	for i := range 100 {
		k := fmt.Sprintf("k%d", i)
		if err := client.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatal(err)
		}
		n, err := client.MasterForKey(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		masters[n.Options().Addr] = true
	}
	if len(masters) != 3 {
		t.Errorf("100 keys landed on %d masters, want 3: %v", len(masters), masters)
	}
	for i := range 100 {
		if v, err := client.Get(ctx, fmt.Sprintf("k%d", i)).Int(); err != nil || v != i {
			t.Fatalf("k%d = %d, %v", i, v, err)
		}
	}
}

func TestCommandStatAndUsedCPU(t *testing.T) {
	srv := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	ctx := context.Background()
	for i := range 50 {
		if err := c.PFAdd(ctx, "h", i).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if calls, usec := redistest.CommandStat(t, srv.Addr(), "pfadd"); calls != 50 || usec <= 0 {
		t.Errorf("pfadd: %d calls, %v µs; want 50 calls and some time", calls, usec)
	}
	if calls, usec := redistest.CommandStat(t, srv.Addr(), "xadd"); calls != 0 || usec != 0 {
		t.Errorf("xadd never ran: %d calls, %v µs", calls, usec)
	}
	if cpu := redistest.UsedCPU(t, srv.Addr()); cpu <= 0 {
		t.Errorf("UsedCPU = %v, want > 0", cpu)
	}
}
