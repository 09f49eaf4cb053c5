package redistest_test

import (
	"context"
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
