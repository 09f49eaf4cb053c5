package redisstate_test

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/kpikit/kpikit/customer/redisstate"
	"github.com/kpikit/kpikit/internal/shared"
)

// TestNewErrors: each option or client that cannot work is an error that
// names its value, and no store is returned.
func TestNewErrors(t *testing.T) {
	timeouts := redis.NewClient(&redis.Options{Addr: "localhost:1", ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = timeouts.Close() })
	plain := redis.NewClient(&redis.Options{Addr: "localhost:1"})
	t.Cleanup(func() { _ = plain.Close() })
	plainCluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"localhost:1"}})
	t.Cleanup(func() { _ = plainCluster.Close() })
	tests := []struct {
		name   string
		client redis.UniversalClient
		opts   []redisstate.Option
		want   []string // in the error message
	}{
		{"nil client", nil, nil, []string{"nil client"}},
		{"typed nil client", (*redis.Client)(nil), nil, []string{"nil *redis.Client client"}},
		{"typed nil cluster client", (*redis.ClusterClient)(nil), nil, []string{"nil *redis.ClusterClient client"}},
		{"client without context deadlines", plain, nil, []string{"*redis.Client", "ContextTimeoutEnabled"}},
		{"cluster client without context deadlines", plainCluster, nil, []string{"*redis.ClusterClient", "ContextTimeoutEnabled"}},
		{"prefix with an opening brace", timeouts, []redisstate.Option{redisstate.WithKeyPrefix("app{1:")}, []string{`"app{1:"`, "brace"}},
		{"prefix with a closing brace", timeouts, []redisstate.Option{redisstate.WithKeyPrefix("app}:")}, []string{`"app}:"`, "brace"}},
		{"buffer size 0", timeouts, []redisstate.Option{redisstate.WithBufferSize(0)}, []string{"buffer size 0 "}},
		{"negative buffer size", timeouts, []redisstate.Option{redisstate.WithBufferSize(-5)}, []string{"buffer size -5 "}},
		{"buffer size too big", timeouts, []redisstate.Option{redisstate.WithBufferSize(1<<26 + 1)}, []string{"buffer size 67108865 "}},
		{"every problem at once", plain, []redisstate.Option{redisstate.WithKeyPrefix("{x}"), redisstate.WithBufferSize(0)},
			[]string{"ContextTimeoutEnabled", `"{x}"`, "buffer size 0 "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := redisstate.New(tt.client, tt.opts...)
			if st != nil || err == nil {
				t.Fatalf("New(%T, %s) = %v, %v; want no store and an error", tt.client, tt.name, st, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New(%s) error %q does not contain %q", tt.name, err, w)
				}
			}
		})
	}
}

// TestNewAccepts: a client that honours context deadlines, with options
// in range (a nil option is ignored), makes a store that writes through
// that client.
func TestNewAccepts(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "localhost:1", ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	for _, opts := range [][]redisstate.Option{
		nil,
		{redisstate.WithKeyPrefix(""), redisstate.WithBufferSize(1)},
		{redisstate.WithKeyPrefix("app:prod:"), redisstate.WithBufferSize(1000), nil},
		{redisstate.WithBufferSize(1 << 26)},
	} {
		st, err := redisstate.New(c, opts...)
		if err != nil {
			t.Fatalf("New with %d options: %v", len(opts), err)
		}
		if st.Client() != c {
			t.Errorf("Client() = %v, want the client given", st.Client())
		}
	}
}

// TestNilStore: the methods of a nil *Store that make state return an
// error, not a panic.
func TestNilStore(t *testing.T) {
	var st *redisstate.Store
	a, err := st.NewActivity(shared.ActivityConfig{Name: "a"})
	if a != nil || err == nil || !strings.Contains(err.Error(), "nil *Store") {
		t.Errorf("(*Store)(nil).NewActivity = %v, %v; want nil and an error naming the nil *Store", a, err)
	}
}
