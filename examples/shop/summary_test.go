package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// summaryFigures are the figures of a summary line that are not about the
// last few seconds, each read under the label of its window.
type summaryFigures struct {
	DAU                    int64
	ARPUToday, RevToday    float64
	Retention1, RevHorizon float64
}

var (
	todayRE   = regexp.MustCompile(`today: DAU (\d+)\s+ARPU \$([0-9.]+)\s+revenue \$([0-9.]+)`)
	horizonRE = regexp.MustCompile(`last (\d+) days: day-1 retention\s+([0-9.]+)%\s+revenue \$([0-9.]+)`)
)

// parseSummary reads the labelled figures of one summary line.
func parseSummary(t *testing.T, line string) summaryFigures {
	t.Helper()
	today, horizon := todayRE.FindStringSubmatch(line), horizonRE.FindStringSubmatch(line)
	if today == nil || horizon == nil {
		t.Fatalf("summary line lacks %q or %q:\n%s", todayRE, horizonRE, line)
	}
	if horizon[1] != strconv.Itoa(horizonDays) {
		t.Errorf("summary line says the last %s days, the shop keeps %d:\n%s", horizon[1], horizonDays, line)
	}
	num := func(s string) float64 {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%q in %q: %v", s, line, err)
		}
		return v
	}
	var f summaryFigures
	f.DAU = int64(num(today[1]))
	f.ARPUToday, f.RevToday = num(today[2]), num(today[3])
	f.Retention1, f.RevHorizon = num(horizon[2]), num(horizon[3])
	return f
}

// TestSummaryWindows records two days of activity and checks that the
// summary line labels each figure with its window: today's DAU, ARPU and
// revenue, and the retention and revenue of the days the shop keeps.
func TestSummaryWindows(t *testing.T) {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)
	today := time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)
	yesterday := today.AddDate(0, 0, -1)
	s, err := newShop(mp, newSimClock(today, 24*time.Hour), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// Yesterday u1 came and paid $10; today u1 came back and u2 came and
	// paid $5.
	s.activity.PurchaseAt(ctx, yesterday, "u1", time.Time{}, "USD", 1000)
	s.activity.ActiveAt(ctx, today, "u1", time.Time{})
	s.activity.PurchaseAt(ctx, today, "u2", time.Time{}, "USD", 500)

	sum := &summary{reader: reader, shop: s, last: time.Now()}
	st, err := sum.collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	sum.print(&buf, st)
	got := parseSummary(t, buf.String())
	want := summaryFigures{DAU: 2, ARPUToday: 2.50, RevToday: 5, Retention1: 100, RevHorizon: 15}
	if got != want {
		t.Errorf("summary figures %+v, want %+v:\n%s", got, want, buf.String())
	}
}
