package customer

import (
	"context"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/kpikit/kpikit/internal/period"
	"github.com/kpikit/kpikit/internal/ring"
	"github.com/kpikit/kpikit/internal/sketch"
)

// TestPeriodOf checks the fast period arithmetic against internal/period.
func TestPeriodOf(t *testing.T) {
	start := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range []Period{Day, Week, Month} {
		a := &Activity{unit: period.Unit(p), loc: time.UTC, utc: true}
		for d := 0; d < 366*60; d += 13 {
			for _, h := range []time.Duration{0, 23*time.Hour + 59*time.Minute} {
				tm := start.AddDate(0, 0, d).Add(h)
				if got, want := a.periodOf(a.dayOf(tm, tm.Unix())), period.Unit(p).Index(tm, time.UTC); got != want {
					t.Fatalf("%v of %v: %d, want %d", p, tm, got, want)
				}
			}
		}
	}
}

// stateBytes is the memory of the distinct-count sets and the money of a,
// and the number of dense sets.
func (a *Activity) stateBytes() (bytes, dense int) {
	add := func(n int, exact bool) {
		bytes += n
		if !exact {
			dense++
		}
	}
	a.periods.Each(a.periods.Top(), func(e *ring.Entry[periodState]) {
		add(e.V.active.SizeBytes(), e.V.active.Exact())
		add(e.V.members.SizeBytes(), e.V.members.Exact())
		for i := range e.V.money {
			add(e.V.money[i].paying.SizeBytes()+24, e.V.money[i].paying.Exact())
		}
		bytes += 8 * len(e.V.cells)
		for k := range e.V.cells {
			if c := e.V.cells[k].Load(); c != nil {
				add(c.users.SizeBytes()+16*len(c.money), c.users.Exact())
			}
		}
	})
	a.days.Each(a.days.Top(), func(e *ring.Entry[sketch.Set]) { add(e.V.SizeBytes(), e.V.Exact()) })
	return bytes, dense
}

// bigActivity is a weekly activity with a full 12x12 retention matrix and
// 30 daily sets: perDay distinct users on each of the 84 days of 12 weeks,
// a new cohort each week (signup time given), every set dense.
func bigActivity(tb testing.TB, perDay int, mp metric.MeterProvider) *Activity {
	tb.Helper()
	end := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) // a Sunday
	start := end.AddDate(0, 0, -83)
	a, err := NewActivity("big", WithMeterProvider(mp), WithHorizon(12),
		WithClock(func() time.Time { return end }))
	if err != nil {
		tb.Fatal(err)
	}
	ids := make([]string, perDay)
	for i := range ids {
		ids[i] = "user-" + strconv.Itoa(i)
	}
	ctx := context.Background()
	for d := range 84 {
		at := start.AddDate(0, 0, d)
		for i, id := range ids {
			// User i signed up in week i%12 (shifted so that every cohort
			// has started by its week).
			w := i % 12
			if w > d/7 {
				w = d / 7
			}
			a.ActiveAt(ctx, at, id, start.AddDate(0, 0, 7*w))
		}
	}
	return a
}

func TestActivityStateSize(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a large state")
	}
	a := bigActivity(t, 20_000, noop.NewMeterProvider())
	defer a.Close()
	bytes, dense := a.stateBytes()
	t.Logf("state: %d bytes, %d dense sets", bytes, dense)
	if bytes > 16<<20 {
		t.Errorf("state %d bytes, want <= 16 MiB", bytes)
	}
	if dense < 78+12+30 {
		t.Errorf("%d dense sets, want the 78 cells, 12 periods and 30 days dense", dense)
	}
}
