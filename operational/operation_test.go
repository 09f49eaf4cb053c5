package operational_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kpikit/kpikit/internal/selfobs"
	"github.com/kpikit/kpikit/operational"
)

type namedErr string

func (e namedErr) Error() string     { return "named: " + string(e) }
func (e namedErr) ErrorType() string { return string(e) }

type isCanceled struct{}

func (isCanceled) Error() string        { return "stopped" }
func (isCanceled) Is(target error) bool { return target == context.Canceled }

func TestErrorType(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"canceled", context.Canceled, "context_canceled"},
		{"wrapped canceled", fmt.Errorf("query: %w", context.Canceled), "context_canceled"},
		{"Is method", isCanceled{}, "context_canceled"},
		{"deadline", context.DeadlineExceeded, "context_deadline_exceeded"},
		{"deadline beats timeout", &net.OpError{Op: "read", Err: context.DeadlineExceeded}, "context_deadline_exceeded"},
		{"os deadline is a timeout", fmt.Errorf("read: %w", os.ErrDeadlineExceeded), "timeout"},
		{"net timeout", &net.OpError{Op: "dial", Err: timeoutErr{}}, "timeout"},
		{"dns", &net.DNSError{Err: "no such host", Name: "x"}, "dns_error"},
		{"dns timeout", &net.DNSError{Err: "timeout", Name: "x", IsTimeout: true}, "timeout"},
		{"refused", os.NewSyscallError("connect", syscall.ECONNREFUSED), "connection_refused"},
		{"reset", fmt.Errorf("x: %w", syscall.ECONNRESET), "connection_reset"},
		{"named", namedErr("not_found"), "not_found"},
		{"wrapped named", fmt.Errorf("get: %w", namedErr("not_found")), "not_found"},
		{"named beats canceled", fmt.Errorf("%w: %w", namedErr("quota"), context.Canceled), "quota"},
		{"empty name", namedErr(""), "_OTHER"},
		{"joined", errors.Join(io.EOF, context.DeadlineExceeded), "context_deadline_exceeded"},
		{"other", io.EOF, "_OTHER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := operational.ErrorType(tt.err); got != tt.want {
				t.Errorf("ErrorType(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

// A cyclic or very deep chain ends.
type selfWrap struct{}

func (selfWrap) Error() string   { return "loop" }
func (s selfWrap) Unwrap() error { return s }

func TestErrorTypeCycle(t *testing.T) {
	if got := operational.ErrorType(selfWrap{}); got != "_OTHER" {
		t.Errorf("got %q", got)
	}
}

func TestOperation(t *testing.T) {
	mp, r := newProvider()
	op, err := operational.NewOperation("db.get_user", operational.WithMeterProvider(mp),
		operational.WithAttributes(attribute.String("db.system", "postgresql")), operational.WithValueLimit(2))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	op.Start(ctx).End(nil)
	op.Start(ctx).End(fmt.Errorf("q: %w", context.Canceled))
	op.Record(ctx, 2*time.Second, nil)
	for _, name := range []string{"a", "b", "a", "c"} {
		op.Record(ctx, time.Millisecond, namedErr(name))
	}
	op.Record(ctx, time.Millisecond, namedErr(strings.Repeat("x", 300)))
	got := collect(t, r)
	const base = "db.system=postgresql,"
	want := []point{
		{base + "error.type=_OTHER,operation.name=db.get_user", 2},
		{base + "error.type=a,operation.name=db.get_user", 2},
		{base + "error.type=b,operation.name=db.get_user", 1},
		{base + "error.type=context_canceled,operation.name=db.get_user", 1},
		{base + "operation.name=db.get_user", 2},
	}
	if diff := cmp.Diff(want, got[operational.MetricOperationDuration]); diff != "" {
		t.Errorf("duration (-want +got):\n%s", diff)
	}
	wantDropped := []point{
		{"kpikit.component=operational.operation,reason=affected_limit", 0},
		{"kpikit.component=operational.operation,reason=error_type_limit", 2},
	}
	if diff := cmp.Diff(wantDropped, got[selfobs.MetricName]); diff != "" {
		t.Errorf("dropped (-want +got):\n%s", diff)
	}
	for _, sm := range collectRM(t, r).ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == operational.MetricOperationDuration {
				h := m.Data.(metricdata.Histogram[float64])
				if m.Unit != "s" || !cmp.Equal(h.DataPoints[0].Bounds, operational.DurationBuckets) {
					t.Errorf("unit %q, bounds %v", m.Unit, h.DataPoints[0].Bounds)
				}
			}
		}
	}
}

func TestErrorCounter(t *testing.T) {
	mp, r := newProvider()
	ec, err := operational.NewErrorCounter("cache.refresh", operational.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ec.Add(ctx, nil)
	ec.Add(ctx, io.EOF)
	ec.Add(ctx, io.EOF)
	ec.Add(ctx, namedErr("redis_down"))
	want := []point{
		{"error.type=_OTHER,operation.name=cache.refresh", 2},
		{"error.type=redis_down,operation.name=cache.refresh", 1},
	}
	if diff := cmp.Diff(want, collect(t, r)[operational.MetricErrors]); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestOperationNilAndInvalid(t *testing.T) {
	var op *operational.Operation
	op.Start(context.Background()).End(io.EOF)
	op.Record(context.Background(), time.Second, nil)
	operational.Timer{}.End(nil)
	var ec *operational.ErrorCounter
	ec.Add(context.Background(), io.EOF)

	for _, name := range []string{"", strings.Repeat("n", 257)} {
		if o, err := operational.NewOperation(name); !errors.Is(err, operational.ErrInvalidOption) || o != nil {
			t.Errorf("NewOperation(%.10q) = %v, %v", name, o, err)
		}
		if e, err := operational.NewErrorCounter(name); !errors.Is(err, operational.ErrInvalidOption) || e != nil {
			t.Errorf("NewErrorCounter(%.10q) = %v, %v", name, e, err)
		}
	}
	if _, err := operational.NewOperation("x", operational.WithValueLimit(0)); !errors.Is(err, operational.ErrInvalidOption) {
		t.Errorf("bad option accepted: %v", err)
	}
}
