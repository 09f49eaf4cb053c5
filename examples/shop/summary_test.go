package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/kpikit/kpikit/operational"
)

// summaryFigures are the figures of a summary line that are not about the
// last few seconds, each read under the label of its window.
type summaryFigures struct {
	Impaired               int64
	Lost, AtRisk           float64
	DAU                    int64
	ARPUToday, RevToday    float64
	Retention1, RevHorizon float64
}

var (
	costRE    = regexp.MustCompile(`since start: [^|]*impaired (\d+)\s+lost ([0-9.]+)\s+at risk \$([0-9.]+)`)
	todayRE   = regexp.MustCompile(`today: DAU (\d+)\s+ARPU \$([0-9.]+)\s+revenue \$([0-9.]+)`)
	horizonRE = regexp.MustCompile(`last (\d+) days: day-1 retention\s+([0-9.]+)%\s+revenue \$([0-9.]+)`)
	budgetsRE = regexp.MustCompile(`\| budget left: (.*)$`)
	budgetRE  = regexp.MustCompile(`^([a-z0-9-]+) (-?[0-9]+\.[0-9])%( PAGE| ticket)?$`)
)

// sloBudget is what a summary line says of one SLO.
type sloBudget struct {
	Name  string
	Left  string // "-66.7%"
	Alert string // "", "PAGE" or "ticket"
}

// parseBudgets reads the error budgets at the end of a summary line, in
// their order.
func parseBudgets(t *testing.T, line string) []sloBudget {
	t.Helper()
	m := budgetsRE.FindStringSubmatch(strings.TrimSpace(line))
	if m == nil {
		t.Fatalf("summary line lacks %q:\n%s", budgetsRE, line)
	}
	var out []sloBudget
	for _, part := range strings.Split(m[1], "  ") {
		b := budgetRE.FindStringSubmatch(part)
		if b == nil {
			t.Fatalf("budget %q of the summary line does not match %q:\n%s", part, budgetRE, line)
		}
		out = append(out, sloBudget{b[1], b[2] + "%", strings.TrimSpace(b[3])})
	}
	return out
}

// parseSummary reads the labelled figures of one summary line.
func parseSummary(t *testing.T, line string) summaryFigures {
	t.Helper()
	cost, today, horizon := costRE.FindStringSubmatch(line), todayRE.FindStringSubmatch(line), horizonRE.FindStringSubmatch(line)
	if cost == nil || today == nil || horizon == nil {
		t.Fatalf("summary line lacks %q, %q or %q:\n%s", costRE, todayRE, horizonRE, line)
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
	f.Impaired = int64(num(cost[1]))
	f.Lost, f.AtRisk = num(cost[2]), num(cost[3])
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

// TestSummarySLOBudgets serves requests through the shop's middleware, two
// of them failed payments, and checks the error budget the summary line
// shows for each SLO that a recorder counts, with the alert that fires.
func TestSummarySLOBudgets(t *testing.T) {
	ts := newServedShop(t)
	s, mw := ts.shop, ts.mw
	serve := func(method, target string, want int) {
		t.Helper()
		ts.serve(t, "", method, target, want)
	}
	// 20 requests, 20 queries: 2 payments fail, 8 succeed, and 10
	// catalog reads succeed. The health check is not recorded.
	s.errorRate = 1
	for range 2 {
		serve("POST", "/pay?product=p1", http.StatusInternalServerError)
	}
	s.errorRate = 0
	for range 8 {
		serve("POST", "/pay?product=p1", http.StatusOK)
	}
	for range 10 {
		serve("GET", "/catalog", http.StatusOK)
	}
	serve("GET", "/healthz", http.StatusOK)

	buf := ts.line(t)
	got := parseBudgets(t, buf.String())
	// availability: 2 bad of 20 over a 3% budget, a burn rate of 3.3:
	// over 3x on 1d and 2h, a ticket. pay-availability: 2 of 10, 6.7x,
	// over 6x on 6h and 30m, a page. The latency SLOs: 2 of 20 over a 5%
	// budget, 2x, over 1x on 3d and 6h, a ticket.
	want := []sloBudget{
		{"availability", "-233.3%", "ticket"},
		{"pay-availability", "-566.7%", "PAGE"},
		{"latency", "-100.0%", "ticket"},
		{"db-query-latency", "-100.0%", "ticket"},
		{"cart-to-paid", "100.0%", ""}, // no attempt yet
	}
	if !slices.Equal(got, want) {
		t.Errorf("budgets %+v, want %+v:\n%s", got, want, buf.String())
	}
	// Every SLO is on the line, and the line reads the recorders' own
	// status.
	status := map[string]float64{}
	for _, st := range slices.Concat(mw.SLOStatus(), s.query.SLOStatus(), s.paid.SLOStatus()) {
		status[st.SLO.Name] = st.BudgetRemaining
	}
	for _, d := range s.slos {
		left, counted := status[d.Name]
		i := slices.IndexFunc(got, func(b sloBudget) bool { return b.Name == d.Name })
		if counted != (i >= 0) {
			t.Errorf("SLO %s: counted by a recorder %v, on the summary line %v (recorders count %v)", d.Name, counted, i >= 0, slices.Sorted(maps.Keys(status)))
		} else if counted && got[i].Left != fmt.Sprintf("%.1f%%", left*100) {
			t.Errorf("SLO %s: the line shows %s left, SLOStatus %v", d.Name, got[i].Left, left)
		}
	}
}

// TestSummaryCostOfFailures walks users through the shop's handlers behind
// its middleware, one of them hit by a failed search, and checks the cost
// of failures on the summary line: the impaired attempt, the conversions
// it is estimated to have lost and their price at today's ARPPU.
func TestSummaryCostOfFailures(t *testing.T) {
	ts := newServedShop(t)
	s := ts.shop
	serve := ts.serve
	walk := []struct {
		method, target string
		status         int
	}{
		{"GET", "/", http.StatusOK}, {"GET", "/search?q=grinder", http.StatusOK}, {"GET", "/product/p2", http.StatusOK},
		{"POST", "/cart/p2", http.StatusCreated}, {"POST", "/checkout", http.StatusOK}, {"POST", "/pay?product=p2", http.StatusOK},
	}
	// u1 and u2 pay $89 each; u3 only visits; u4's search fails, which
	// impairs its attempt at the visit it had reached.
	for _, u := range []string{"u1", "u2"} {
		for _, r := range walk {
			serve(t, u, r.method, r.target, r.status)
		}
	}
	serve(t, "u3", "GET", "/", http.StatusOK)
	serve(t, "u4", "GET", "/", http.StatusOK)
	s.errorRate = 1
	serve(t, "u4", "GET", "/search?q=grinder", http.StatusInternalServerError)

	buf := ts.line(t)
	got := parseSummary(t, buf.String())
	// One impaired attempt of four; the three clean ones converted 2/3,
	// the impaired one 0: 2/3 of a conversion lost, at an ARPPU of $89.
	if got.Impaired != 1 || got.Lost != 0.7 || got.AtRisk != 59.33 {
		t.Errorf("cost of failures: impaired %d, lost %v, at risk $%v; want 1, 0.7, $59.33:\n%s", got.Impaired, got.Lost, got.AtRisk, buf.String())
	}
}

// servedShop is a shop behind its middleware, recording into a manual
// reader that its summary reads.
type servedShop struct {
	shop   *shop
	mw     *operational.Middleware
	h      http.Handler
	reader *sdkmetric.ManualReader
}

func newServedShop(t *testing.T) *servedShop {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	s, err := newShop(mp, newSimClock(time.Now(), 24*time.Hour), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	mw, err := s.middleware(mp)
	if err != nil {
		t.Fatal(err)
	}
	return &servedShop{shop: s, mw: mw, h: mw.Handler(s.routes()), reader: reader}
}

// serve serves one request, for user when not empty (as the traffic
// generator sends them, from a desktop found organically), and checks its
// status.
func (ts *servedShop) serve(t *testing.T, user, method, target string, want int) {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	if user != "" {
		req.Header.Set("X-User-ID", user)
		req.Header.Set("X-Device", "desktop")
		req.Header.Set("X-Channel", "organic")
	}
	rec := httptest.NewRecorder()
	ts.h.ServeHTTP(rec, req)
	if rec.Code != want {
		t.Fatalf("%s %s %s: status %d, want %d", user, method, target, rec.Code, want)
	}
}

// line collects and returns the summary line.
func (ts *servedShop) line(t *testing.T) *bytes.Buffer {
	t.Helper()
	sum := &summary{reader: ts.reader, shop: ts.shop, mw: ts.mw, last: time.Now()}
	st, err := sum.collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	sum.print(&buf, st)
	return &buf
}
