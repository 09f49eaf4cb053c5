package customer_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kpikit/kpikit/customer"
	"github.com/kpikit/kpikit/customer/redisstate"
	"github.com/kpikit/kpikit/internal/faultnet"
)

// TestOptionsThatCannotWork: an option whose value cannot do what it says
// is an error naming the option and the value, wrapping
// ErrInvalidConfig, for every recorder it applies to; none is ignored.
func TestOptionsThatCannotWork(t *testing.T) {
	tests := []struct {
		name      string
		opts      []customer.Option
		recorders []string // those that reject it
		want      []string // in the error message
	}{
		{"nil state", []customer.Option{customer.WithState(nil)},
			[]string{"funnel", "goal", "activity"}, []string{"WithState(nil)"}},
		{"nil Redis store", []customer.Option{customer.WithState((*redisstate.Store)(nil))},
			[]string{"funnel", "goal", "activity"}, []string{"nil"}},
		{"user cap with Redis", []customer.Option{customer.WithState(unusedState(t)), customer.WithMaxUsers(1000)},
			[]string{"funnel", "goal"}, []string{"WithMaxUsers(1000)", "WithState"}},
		// WithScale: "at least every declared currency's minor-unit
		// digits and at most 18"; -1 is not "no scale given".
		{"negative scale", []customer.Option{customer.WithCurrencies("USD"), customer.WithScale(-1)},
			[]string{"activity"}, []string{"-1"}},
		{"negative scale, zero-digit currency", []customer.Option{customer.WithCurrencies("JPY"), customer.WithScale(-3)},
			[]string{"activity"}, []string{"-3"}},
		{"snapshot path that is a directory", []customer.Option{customer.WithSnapshot(os.TempDir(), time.Minute)},
			[]string{"activity"}, []string{os.TempDir(), "is a directory"}},
	}
	for _, tt := range tests {
		for _, kind := range []string{"funnel", "goal", "activity"} {
			rejects := false
			for _, r := range tt.recorders {
				rejects = rejects || r == kind
			}
			if !rejects {
				continue
			}
			t.Run(tt.name+"/"+kind, func(t *testing.T) {
				verifyNoLeak(t)
				r, _, err := newRecorder(kind, tt.opts...)
				if r != nil {
					_ = r.Close()
					t.Fatalf("%s accepted %s", kind, tt.name)
				}
				if !errors.Is(err, customer.ErrInvalidConfig) {
					t.Errorf("error %v does not wrap ErrInvalidConfig", err)
				}
				for _, w := range tt.want {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Errorf("error %v does not name %q", err, w)
					}
				}
			})
		}
	}
}

// TestActivityMaxUsersWithRedis: an activity in Redis takes WithMaxUsers,
// which caps the first-seen cohorts the replica holds.
func TestActivityMaxUsersWithRedis(t *testing.T) {
	a, err := customer.NewActivity("a", redisOpt(t, faultnet.Refused(t)), customer.WithMaxUsers(10))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = a.Shutdown(ctx) // nothing to write; the last reading fails
}
