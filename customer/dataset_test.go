package customer_test

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kpikit/kpikit/customer"
)

// datasets is where the shared datasets live, relative to this package:
// ../shared/datasets from the module root.
var datasets = filepath.Join("..", "..", "shared", "datasets")

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("dataset %s is absent: the shared datasets are not beside the module", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	var rows [][]string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		rows = append(rows, rec)
	}
	if len(rows) == 0 {
		t.Fatalf("%s is empty", path)
	}
	return rows[1:] // header
}

// TestFunnelEcommerceDataset replays the four-step funnel-ecommerce
// dataset and checks the published counts per step, overall, per device
// and per sex, and the published step ratios.
func TestFunnelEcommerceDataset(t *testing.T) {
	dir := filepath.Join(datasets, "funnel-ecommerce")
	users := readCSV(t, filepath.Join(dir, "user_table.csv"))
	steps := []string{"home_page", "search_page", "payment_page", "payment_confirmation_page"}
	files := []string{"home_page_table.csv", "search_page_table.csv", "payment_page_table.csv", "payment_confirmation_table.csv"}
	reached := make([]map[string]bool, len(steps))
	for i, file := range files {
		reached[i] = map[string]bool{}
		for _, rec := range readCSV(t, filepath.Join(dir, file)) {
			reached[i][rec[0]] = true
		}
	}

	type user struct {
		id, device, sex string
		date            time.Time
	}
	var us []user
	for _, rec := range users {
		d, err := time.Parse(time.DateOnly, rec[1])
		if err != nil {
			t.Fatalf("user %s: %v", rec[0], err)
		}
		us = append(us, user{id: rec[0], date: d, device: rec[2], sex: rec[3]})
	}
	// Replay in event-time order, each user's steps in order at their date.
	slices.SortStableFunc(us, func(a, b user) int { return a.date.Compare(b.date) })

	h := newHarness(t)
	f := mustFunnel(t, "ecommerce", steps, customer.WithMeterProvider(h.mp),
		customer.WithSegments("device", "sex"), customer.WithPeriod(customer.Week), customer.WithHorizon(20),
		customer.WithClock(func() time.Time { return time.Date(2015, 5, 1, 0, 0, 0, 0, time.UTC) }))
	ctx := context.Background()
	for _, u := range us {
		for i, s := range steps {
			if !reached[i][u.id] {
				break
			}
			f.StepAt(ctx, u.date, u.id, s, u.device, u.sex)
		}
	}

	p := h.points(t)
	if d := nonzeroDrops(p); len(d) != 0 {
		t.Errorf("dropped events: %v", d)
	}
	combos := [][2]string{{"Desktop", "Female"}, {"Desktop", "Male"}, {"Mobile", "Female"}, {"Mobile", "Male"}}
	count := func(match func(device, sex string) bool) []float64 {
		out := make([]float64, len(steps))
		for _, c := range combos {
			if !match(c[0], c[1]) {
				continue
			}
			for i, n := range stepCounts(p, "ecommerce", steps, "device="+c[0], "sex="+c[1]) {
				out[i] += n
			}
		}
		return out
	}
	published := []struct {
		segment string
		match   func(device, sex string) bool
		want    []float64
	}{
		{"all", func(string, string) bool { return true }, []float64{90400, 45200, 6030, 452}},
		{"Desktop", func(d, _ string) bool { return d == "Desktop" }, []float64{60200, 30100, 3010, 150}},
		{"Mobile", func(d, _ string) bool { return d == "Mobile" }, []float64{30200, 15100, 3020, 302}},
		{"Female", func(_, s string) bool { return s == "Female" }, []float64{45075, 22676, 3100, 241}},
		{"Male", func(_, s string) bool { return s == "Male" }, []float64{45325, 22524, 2930, 211}},
	}
	// The same counts, summed over the entry weeks of the figures by
	// entry period: every user enters once.
	byWeek := func(match func(device, sex string) bool) []float64 {
		out := make([]float64, len(steps))
		for k, v := range only(p, customer.MetricFunnelPeriodUsers+"{") {
			for _, c := range combos {
				if match(c[0], c[1]) && strings.Contains(k, "{device="+c[0]+",") && strings.Contains(k, ",sex="+c[1]+"}") {
					for i, s := range steps {
						if strings.Contains(k, "funnel.step="+s+",") {
							out[i] += v
						}
					}
				}
			}
		}
		return out
	}
	weeks := map[string]bool{}
	for k := range only(p, customer.MetricFunnelPeriodUsers+"{") {
		weeks[strings.SplitN(k[strings.Index(k, "period="):], ",", 2)[0]] = true
	}
	if len(weeks) != 18 {
		t.Errorf("figures by entry period cover %d weeks, want the 18 ISO weeks 2015-W01 to 2015-W18", len(weeks))
	}
	for _, seg := range published {
		if diff := cmp.Diff(seg.want, byWeek(seg.match)); diff != "" {
			t.Errorf("segment %s: users per step summed over entry weeks (-published +got):\n%s", seg.segment, diff)
		}
	}
	counts := map[string][]float64{}
	for _, seg := range published {
		counts[seg.segment] = count(seg.match)
		if diff := cmp.Diff(seg.want, counts[seg.segment]); diff != "" {
			t.Errorf("segment %s: users per step (-published +got):\n%s", seg.segment, diff)
		}
	}

	// Published ratios, in percent to two decimals.
	pct := func(num, den float64) string { return fmt.Sprintf("%.2f%%", 100*num/den) }
	all := counts["all"]
	gotRatios := []string{pct(all[1], all[0]), pct(all[2], all[1]), pct(all[3], all[2]), pct(all[3], all[0]),
		pct(counts["Desktop"][3], counts["Desktop"][0]), pct(counts["Mobile"][3], counts["Mobile"][0])}
	wantRatios := []string{"50.00%", "13.34%", "7.50%", "0.50%", "0.25%", "1.00%"}
	if diff := cmp.Diff(wantRatios, gotRatios); diff != "" {
		t.Errorf("step, overall, desktop and mobile conversion (-published +got):\n%s", diff)
	}

	// The conversion gauges agree with the counts of every combination.
	for _, c := range combos {
		segs := []string{"device=" + c[0], "sex=" + c[1]}
		n := stepCounts(p, "ecommerce", steps, segs...)
		for i := 1; i < len(steps); i++ {
			for basis, den := range map[string]float64{"previous": n[i-1], "first": n[0]} {
				k := convKey("ecommerce", steps[i], i+1, basis, segs...)
				if got, want := p[k], n[i]/den; math.Abs(got-want) > 1e-12 {
					t.Errorf("%s = %v, want %v", k, got, want)
				}
			}
		}
	}
}
