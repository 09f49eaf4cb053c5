package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
)

// datasets is where the shared datasets live, relative to this package:
// ../shared/datasets from the module root.
var datasets = filepath.Join("..", "..", "..", "shared", "datasets")

func dataset(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(datasets, name)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("dataset %s is absent: the shared datasets are not beside the module", path)
	}
	return path
}

func replay(t testing.TB, args ...string) (output, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := run(args, &stdout, &stderr); err != nil {
		t.Fatalf("replay %q: %v\n%s", args, err, stderr.String())
	}
	var out output
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("replay %q printed no JSON document: %v", args, err)
	}
	return out, stderr.String()
}

// truth is the independent computation: plain maps over the CSV rows.
type truth struct {
	scale   int
	periods map[string]*periodTruth
	cohorts map[string]*cohortTruth
}

type periodTruth struct {
	active, paying map[string]bool
	purchases      int64
	revenue        int64 // units of 10^-scale
}

type cohortTruth struct {
	size    map[string]bool
	offsets map[int]*periodTruth
}

func label(unit string, t time.Time) string {
	switch unit {
	case "day":
		return t.Format("2006-01-02")
	case "week":
		y, w := t.ISOWeek()
		return fmt.Sprintf("%04d-W%02d", y, w)
	}
	return t.Format("2006-01")
}

func offset(unit string, from, to time.Time) int {
	days := func(t time.Time) int { return int(t.Unix() / 86400) }
	switch unit {
	case "day":
		return days(to) - days(from)
	case "week":
		monday := func(t time.Time) int { return days(t) - (int(t.Weekday())+6)%7 }
		return (monday(to) - monday(from)) / 7
	}
	return (to.Year()-from.Year())*12 + int(to.Month()) - int(from.Month())
}

// units parses a plain decimal into an integer at scale, by hand.
func units(t testing.TB, s string, scale int) int64 {
	whole, frac, _ := strings.Cut(s, ".")
	frac += strings.Repeat("0", scale-len(frac))
	v, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || len(frac) != scale {
		t.Fatalf("amount %q at scale %d: %v", s, scale, err)
	}
	return v
}

func compute(t testing.TB, path, userCol, timeCol, amountCol, unit string) truth {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	type row struct {
		user, amount string
		at           time.Time
	}
	var rs []row
	scale := 2
	first := map[string]time.Time{}
	for _, r := range rows[1:] {
		at, err := time.Parse(time.DateOnly, r[col[timeCol]])
		if err != nil {
			t.Fatal(err)
		}
		x := row{user: r[col[userCol]], at: at}
		if amountCol != "" {
			x.amount = r[col[amountCol]]
			if _, frac, ok := strings.Cut(strings.TrimRight(x.amount, "0"), "."); ok {
				scale = max(scale, len(frac))
			}
		}
		if f, ok := first[x.user]; !ok || at.Before(f) {
			first[x.user] = at
		}
		rs = append(rs, x)
	}
	tr := truth{scale: scale, periods: map[string]*periodTruth{}, cohorts: map[string]*cohortTruth{}}
	newP := func() *periodTruth { return &periodTruth{active: map[string]bool{}, paying: map[string]bool{}} }
	for _, r := range rs {
		p := tr.periods[label(unit, r.at)]
		if p == nil {
			p = newP()
			tr.periods[label(unit, r.at)] = p
		}
		cl := label(unit, first[r.user])
		c := tr.cohorts[cl]
		if c == nil {
			c = &cohortTruth{size: map[string]bool{}, offsets: map[int]*periodTruth{}}
			tr.cohorts[cl] = c
		}
		c.size[r.user] = true
		k := offset(unit, first[r.user], r.at)
		o := c.offsets[k]
		if o == nil {
			o = newP()
			c.offsets[k] = o
		}
		for _, x := range []*periodTruth{p, o} {
			x.active[r.user] = true
			if amountCol != "" {
				x.paying[r.user] = true
				x.purchases++
				x.revenue += units(t, r.amount, scale)
			}
		}
	}
	return tr
}

// Distinct counts are exact up to exactLimit users, near-exact in the two
// sparse tiers up to sparseLimit (23-bit fingerprints, 0.024% standard
// error, then 21-bit ones, 0.049%, to 10,053 fingerprints), dense p14
// above.
const (
	exactLimit  = 1536
	sparseLimit = 9800
)

// tolerance is three standard errors of a dense p14 sketch; sparseTolerance
// is 0.2%, four standard errors of the second sparse tier.
const (
	tolerance       = 3 * 0.0081
	sparseTolerance = 0.002
)

// checkCount compares a distinct count: exact while small, within 0.2% in
// the sparse tiers, within three standard errors when dense. It returns
// the relative error.
func checkCount(t *testing.T, what string, got int64, want int) float64 {
	t.Helper()
	rel := math.Abs(float64(got)-float64(want)) / float64(want)
	switch {
	case want <= exactLimit && got != int64(want),
		want <= sparseLimit && rel > sparseTolerance,
		rel > tolerance:
		t.Errorf("%s = %d, want %d (relative error %.4f)", what, got, want, rel)
	}
	return rel
}

func checkRatio(t *testing.T, what string, got, want float64, dense bool) {
	t.Helper()
	tol := 1e-12
	if dense {
		tol = 2 * tolerance
	}
	if math.Abs(got-want) > tol*math.Max(math.Abs(want), 1e-300) && !(want == 0 && got == 0) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func ptrVal[T any](t *testing.T, what string, p *T) T {
	t.Helper()
	if p == nil {
		t.Fatalf("%s missing", what)
	}
	return *p
}

// compare checks the replay output against the independent computation
// and returns the number of distinct counts compared and the largest
// relative error among them.
func compare(t *testing.T, out output, tr truth, money bool) (counts int, worst float64) {
	t.Helper()
	pow := math.Pow10(tr.scale)
	count := func(what string, got int64, want int) {
		counts++
		worst = max(worst, checkCount(t, what, got, want))
	}
	if len(out.Periods) != len(tr.periods) {
		t.Errorf("%d periods, want %d", len(out.Periods), len(tr.periods))
	}
	for _, p := range out.Periods {
		w := tr.periods[p.Period]
		if w == nil {
			t.Errorf("unexpected period %s", p.Period)
			continue
		}
		count("active users of "+p.Period, p.ActiveUsers, len(w.active))
		if !money {
			continue
		}
		count("paying users of "+p.Period, ptrVal(t, "paying_users", p.PayingUsers), len(w.paying))
		if got := ptrVal(t, "purchases", p.Purchases); got != w.purchases {
			t.Errorf("purchases of %s = %d, want %d", p.Period, got, w.purchases)
		}
		rev := float64(w.revenue) / pow
		if got := ptrVal(t, "revenue", p.Revenue); got != rev {
			t.Errorf("revenue of %s = %v, want exactly %v", p.Period, got, rev)
		}
		checkRatio(t, "ARPU of "+p.Period, ptrVal(t, "arpu", p.ARPU), rev/float64(len(w.active)), len(w.active) > exactLimit)
		checkRatio(t, "ARPPU of "+p.Period, ptrVal(t, "arppu", p.ARPPU), rev/float64(len(w.paying)), len(w.paying) > exactLimit)
	}
	if len(out.Cohorts) != len(tr.cohorts) {
		t.Errorf("%d cohorts, want %d", len(out.Cohorts), len(tr.cohorts))
	}
	for _, c := range out.Cohorts {
		w := tr.cohorts[c.Cohort]
		if w == nil {
			t.Errorf("unexpected cohort %s", c.Cohort)
			continue
		}
		count("size of cohort "+c.Cohort, c.Size, len(w.size))
		var cum int64
		for _, o := range c.Offsets {
			wo := w.offsets[int(o.Offset)]
			if wo == nil {
				wo = &periodTruth{}
			}
			what := fmt.Sprintf("cohort %s offset %d", c.Cohort, o.Offset)
			if len(wo.active) == 0 {
				if o.Users != 0 {
					t.Errorf("%s: %d users, want 0", what, o.Users)
				}
			} else {
				count(what+" users", o.Users, len(wo.active))
			}
			checkRatio(t, what+" retention", o.Retention, float64(len(wo.active))/float64(len(w.size)), len(w.size) > exactLimit)
			if !money {
				continue
			}
			if got := ptrVal(t, "purchases", o.Purchases); got != wo.purchases {
				t.Errorf("%s: purchases %d, want %d", what, got, wo.purchases)
			}
			if got, want := ptrVal(t, "revenue", o.Revenue), float64(wo.revenue)/pow; got != want {
				t.Errorf("%s: revenue %v, want exactly %v", what, got, want)
			}
			cum += wo.revenue
			checkRatio(t, what+" LTV", ptrVal(t, "ltv", o.LTV), float64(cum)/pow/float64(len(w.size)), len(w.size) > exactLimit)
		}
	}
	return counts, worst
}

func TestRelayFoods(t *testing.T) {
	path := dataset(t, "relay-foods.csv")
	for _, unit := range []string{"month", "week"} {
		t.Run(unit, func(t *testing.T) {
			out, stderr := replay(t, "-in", path, "-user", "UserId", "-time", "OrderDate", "-amount", "TotalCharges", "-period", unit)
			if out.Period != unit {
				t.Errorf("period %q, want %q", out.Period, unit)
			}
			if !strings.Contains(stderr, "2891 rows read, 2891 rows recorded, 0 rows skipped\n") {
				t.Errorf("stderr: %s", stderr)
			}
			tr := compute(t, path, "UserId", "OrderDate", "TotalCharges", unit)
			if tr.scale != 4 {
				t.Errorf("independent scale %d, want 4 (sub-cent amounts)", tr.scale)
			}
			n, worst := compare(t, out, tr, true)
			t.Logf("%d periods, %d cohorts, %d distinct counts compared, largest relative error %.4f", len(out.Periods), len(out.Cohorts), n, worst)
		})
	}
}

func TestCDNOW(t *testing.T) {
	path := dataset(t, "CDNOW_master.csv")
	start := time.Now()
	out, stderr := replay(t, "-in", path, "-user", "user_id", "-time", "order_date", "-amount", "amount")
	t.Logf("replay of CDNOW took %v (race detector: %v)", time.Since(start), raceEnabled)
	if !strings.Contains(stderr, "69659 rows read, 69659 rows recorded, 0 rows skipped\n") {
		t.Errorf("stderr: %s", stderr)
	}
	n, worst := compare(t, out, compute(t, path, "user_id", "order_date", "amount", "month"), true)
	t.Logf("%d periods, %d cohorts, %d distinct counts compared, largest relative error %.4f", len(out.Periods), len(out.Cohorts), n, worst)
	// Every CDNOW count is at most 9,633 users: in the sparse tiers, so an
	// analyst's COUNT(DISTINCT) and the replay agree within 0.5%.
	if worst > 0.005 {
		t.Errorf("largest relative error %.4f, want at most 0.005", worst)
	}
	if len(out.Cohorts) != 3 {
		t.Errorf("%d cohorts, want 3 (first purchases in 1997 Q1)", len(out.Cohorts))
	}

	// Without amounts: activity only, no money fields.
	out, _ = replay(t, "-in", path, "-user", "user_id", "-time", "order_date", "-time-layout", "2006-01-02")
	if out.Periods[0].Revenue != nil || out.Cohorts[0].Offsets[0].Purchases != nil {
		t.Errorf("money fields without -amount: %+v", out.Periods[0])
	}
	compare(t, out, compute(t, path, "user_id", "order_date", "", "month"), false)
}

// BenchmarkReplayCDNOW replays the 69,659 CDNOW rows: read, sort, record,
// collect and print.
func BenchmarkReplayCDNOW(b *testing.B) {
	path := dataset(b, "CDNOW_master.csv")
	b.ReportAllocs()
	for b.Loop() {
		if err := run([]string{"-in", path, "-user", "user_id", "-time", "order_date", "-amount", "amount"}, io.Discard, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMalformedRows(t *testing.T) {
	csvText := strings.Join([]string{
		"user,when,amount",
		"a,2024-01-05,10.00",                // 2
		"b,2024-01-40,5",                    // 3 bad date
		",2024-01-06,5",                     // 4 empty user
		"c,2024-01-07,12.3.4",               // 5 bad amount
		"d,2024-01-08,NaN",                  // 6 NaN
		"e,2024-01-08,Inf",                  // 7 Inf
		"f,2024-01-09",                      // 8 too few fields
		`g,"2024-01-09,1`,                   // 9.. bare quote runs to the end of the file
		"a,20240203,-2.50",                  // refund, other layout
		"h,2024-02-04,1e3",                  // exponent
		"i,2024-02-04,99999999999999999999", // overflow
	}, "\n") + "\n"
	path := filepath.Join(t.TempDir(), "orders.csv")
	if err := os.WriteFile(path, []byte(csvText), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := run([]string{"-in", path, "-user", "user", "-time", "when", "-amount", "amount"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{":3: skipped", ":4: skipped: empty user", ":5: skipped", ":6: skipped", ":7: skipped", ":8: skipped", ":9: skipped"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if !strings.Contains(stderr.String(), "rows skipped") {
		t.Errorf("stderr lacks the skipped count:\n%s", stderr.String())
	}
	var out output
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Periods) == 0 || out.Periods[0].Period != "2024-01" || *out.Periods[0].Revenue != 10 || *out.Periods[0].Purchases != 1 {
		t.Errorf("periods: %s", stdout.String())
	}
}

func TestRefundRow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "orders.csv")
	if err := os.WriteFile(path, []byte("u,t,a\nx,2024-01-05,10.00\nx,2024-02-03,-2.5\ny,2024-02-04,1.25\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := replay(t, "-in", path, "-user", "u", "-time", "t", "-amount", "a")
	feb := out.Periods[1]
	if *feb.Revenue != -1.25 || *feb.Purchases != 1 || feb.ActiveUsers != 1 {
		t.Errorf("February: revenue %v purchases %v active %v; want -1.25, 1, 1", *feb.Revenue, *feb.Purchases, feb.ActiveUsers)
	}
	if got := *out.Cohorts[0].Offsets[1].LTV; got != 7.5 {
		t.Errorf("LTV of the January cohort at offset 1 = %v, want 7.5", got)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "orders.csv")
	if err := os.WriteFile(good, []byte("u,t,a\nx,2024-01-05,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.csv")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"-in", filepath.Join(dir, "nope.csv"), "-user", "u", "-time", "t"}, "no such file"},
		{"missing user column", []string{"-in", good, "-user", "user", "-time", "t"}, `column "user" (-user) is not in the header`},
		{"missing amount column", []string{"-in", good, "-user", "u", "-time", "t", "-amount", "amt"}, `column "amt" (-amount)`},
		{"missing flags", []string{"-in", good}, "missing flag -user, -time"},
		{"bad period", []string{"-in", good, "-user", "u", "-time", "t", "-period", "year"}, `unknown period "year"`},
		{"bad currency", []string{"-in", good, "-user", "u", "-time", "t", "-amount", "a", "-currency", "usd"}, `"usd"`},
		{"bad scale", []string{"-in", good, "-user", "u", "-time", "t", "-amount", "a", "-scale", "1"}, "scale 1"},
		{"empty file", []string{"-in", empty, "-user", "u", "-time", "t"}, "is empty"},
		{"funnel without step", []string{"-in", good, "-user", "u", "-time", "t", "-funnel", "a,b"}, "-funnel and -step go together"},
		{"missing step column", []string{"-in", good, "-user", "u", "-time", "t", "-funnel", "a,b", "-step", "ev"}, `column "ev" (-step)`},
		{"one-step funnel", []string{"-in", good, "-user", "u", "-time", "t", "-funnel", "a", "-step", "a"}, "at least 2 needed"},
		{"bad order", []string{"-in", good, "-user", "u", "-time", "t", "-funnel", "a,b", "-step", "a", "-order", "loose"}, `-order "loose"`},
		{"bad exclusion", []string{"-in", good, "-user", "u", "-time", "t", "-funnel", "a,b", "-step", "a", "-exclude", "x:a"}, `-exclude "x:a": want EVENT:FROM:TO`},
		{"exclusion of a step", []string{"-in", good, "-user", "u", "-time", "t", "-funnel", "a,b", "-step", "a", "-exclude", "b:a:b"}, `exclusion event "b" is a step`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(tt.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"-h", []string{"-h"}},
		{"-help", []string{"-help"}},
		{"--help", []string{"--help"}},
		{"-h after other flags", []string{"-in", "orders.csv", "-h"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := status(tt.args, &stdout, &stderr)
			if got != 0 {
				t.Errorf("status(%q) = %d, want 0\nstderr:\n%s", tt.args, got, stderr.String())
			}
			usage := stdout.String() + stderr.String()
			if strings.Contains(usage, "help requested") {
				t.Errorf("status(%q) reported -h as an error; got:\n%s", tt.args, usage)
			}
			for _, flag := range []string{"-in", "-user", "-time", "-amount", "-period"} {
				if !strings.Contains(usage, "\n  "+flag+" ") {
					t.Errorf("status(%q) printed no usage of %s; got:\n%s", tt.args, flag, usage)
				}
			}
		})
	}
}

func TestUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if got := status([]string{"-h"}, &stdout, &stderr); got != 0 {
		t.Fatalf("status(-h) = %d, want 0\n%s", got, stderr.String())
	}
	// Flag help may wrap, so compare with the spaces collapsed.
	usage := strings.Join(strings.Fields(stdout.String()+stderr.String()), " ")
	tests := []struct {
		name, want string
	}{
		{"refunds", "a negative amount is a refund"},
		{"amounts in major units", "in major units, such as 12.34"},
		{"required flags", "-in FILE -user COLUMN -time COLUMN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(usage, tt.want) {
				t.Errorf("usage lacks %q; got:\n%s", tt.want, stdout.String()+stderr.String())
			}
		})
	}
}

// writeCSV writes text to orders.csv in a fresh directory and returns its path.
func writeCSV(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "orders.csv")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// skipLines returns the skip messages of stderr, in the order printed,
// without the file name.
func skipLines(stderr, path string) []string {
	var skips []string
	for l := range strings.Lines(stderr) {
		if rest, ok := strings.CutPrefix(strings.TrimSuffix(l, "\n"), path+":"); ok && strings.Contains(rest, ": skipped: ") {
			skips = append(skips, rest)
		}
	}
	return skips
}

func TestFieldCount(t *testing.T) {
	tests := []struct {
		name      string
		rows      string // after the header u,t,a
		wantSkips []string
		wantRev   float64 // revenue of 2024-01
		wantBuys  int64   // purchases of 2024-01
	}{
		{
			name:      "unquoted comma in an amount",
			rows:      "x,2024-01-05,26,6\ny,2024-01-06,1\n",
			wantSkips: []string{"2: skipped: 4 fields, the header has 3"},
			wantRev:   1, wantBuys: 1,
		},
		{
			name:      "extra empty field",
			rows:      "x,2024-01-05,2,\ny,2024-01-06,1\n",
			wantSkips: []string{"2: skipped: 4 fields, the header has 3"},
			wantRev:   1, wantBuys: 1,
		},
		{
			name:      "missing amount field",
			rows:      "x,2024-01-05\ny,2024-01-06,1\n",
			wantSkips: []string{"2: skipped: 2 fields, the header has 3"},
			wantRev:   1, wantBuys: 1,
		},
		{
			name:      "quoted comma is one field",
			rows:      "z,2024-01-04,2,5,1\nx,2024-01-05,\"26,6\"\ny,2024-01-06,1\n",
			wantSkips: []string{"2: skipped: 5 fields, the header has 3", "3: skipped: amount: "},
			wantRev:   1, wantBuys: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := "u,t,a\n" + tt.rows
			path := writeCSV(t, text)
			out, stderr := replay(t, "-in", path, "-user", "u", "-time", "t", "-amount", "a")
			skips := skipLines(stderr, path)
			ok := len(skips) == len(tt.wantSkips)
			for i := 0; ok && i < len(skips); i++ {
				ok = strings.HasPrefix(skips[i], tt.wantSkips[i])
			}
			if !ok {
				t.Errorf("input:\n%sskips: %q\nwant prefixes: %q", text, skips, tt.wantSkips)
			}
			if len(out.Periods) != 1 {
				t.Fatalf("input:\n%speriods: %+v, want one", text, out.Periods)
			}
			jan := out.Periods[0]
			if got := ptrVal(t, "revenue", jan.Revenue); got != tt.wantRev {
				t.Errorf("input:\n%srevenue = %v, want %v", text, got, tt.wantRev)
			}
			if got := ptrVal(t, "purchases", jan.Purchases); got != tt.wantBuys {
				t.Errorf("input:\n%spurchases = %v, want %v", text, got, tt.wantBuys)
			}
		})
	}
}

// skipLineNumbers returns the line numbers of the skip messages of stderr,
// in the order printed.
func skipLineNumbers(t *testing.T, stderr, path string) []int {
	t.Helper()
	var lines []int
	for _, s := range skipLines(stderr, path) {
		n, err := strconv.Atoi(s[:strings.IndexByte(s, ':')])
		if err != nil {
			t.Fatalf("skip message %q: %v", s, err)
		}
		lines = append(lines, n)
	}
	return lines
}

func TestSkipOrder(t *testing.T) {
	tests := []struct {
		name string
		rows []string // after the header u,t,a
		want []int
	}{
		{
			name: "amount before field count",
			rows: []string{"x,2024-01-05,1.2.3", "y,2024-01-06,1,2", "z,2024-01-07,1"},
			want: []int{2, 3},
		},
		{
			name: "amounts in reverse time order",
			rows: []string{"x,2024-03-05,NaN", "y,2024-02-06,Inf", "z,2024-01-07,1.2.3", "w,2024-01-08,1"},
			want: []int{2, 3, 4},
		},
		{
			name: "every reason interleaved",
			rows: []string{
				"a,2024-01-05,10.00", // 2
				"b,2024-03-01,x",     // 3 amount, latest time
				"c,2024-01-40,5",     // 4 time
				"d,2024-02-01,1e3",   // 5 amount
				",2024-01-06,5",      // 6 user
				"e,2024-01-01,NaN",   // 7 amount, earliest time
				"f,2024-01-09",       // 8 field count
				"g,2024-01-09,",      // 9 empty amount
				`h,2024-01-09,"1`,    // 10 CSV syntax, to the end of the file
			},
			want: []int{3, 4, 5, 6, 7, 8, 9, 10},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := "u,t,a\n" + strings.Join(tt.rows, "\n") + "\n"
			path := writeCSV(t, text)
			// Twice: the order must not vary from run to run either.
			for range 2 {
				_, stderr := replay(t, "-in", path, "-user", "u", "-time", "t", "-amount", "a")
				if got := skipLineNumbers(t, stderr, path); !slices.Equal(got, tt.want) {
					t.Fatalf("input:\n%sskipped lines in the order printed: %v, want %v\nstderr:\n%s", text, got, tt.want, stderr)
				}
			}
		})
	}
}

// summary is the last counts line replay prints on stderr.
type summary struct {
	read, recorded, skipped int
	byReason                map[string]int
}

var summaryRE = regexp.MustCompile(`(?m)^replay: (\d+) rows read, (\d+) rows recorded, (\d+) rows skipped(?: \((.+)\))?$`)

func parseSummary(t *testing.T, stderr string) summary {
	t.Helper()
	m := summaryRE.FindAllStringSubmatch(stderr, -1)
	if len(m) != 1 {
		t.Fatalf("stderr has %d summary lines, want 1:\n%s", len(m), stderr)
	}
	s := summary{byReason: map[string]int{}}
	s.read, _ = strconv.Atoi(m[0][1])
	s.recorded, _ = strconv.Atoi(m[0][2])
	s.skipped, _ = strconv.Atoi(m[0][3])
	if m[0][4] == "" {
		return s
	}
	for part := range strings.SplitSeq(m[0][4], ", ") {
		n, reason, _ := strings.Cut(part, " ")
		v, err := strconv.Atoi(n)
		if err != nil || reason == "" {
			t.Fatalf("summary part %q is not a count and a reason:\n%s", part, stderr)
		}
		s.byReason[reason] += v
	}
	return s
}

func TestSkipSummary(t *testing.T) {
	money := []string{"-user", "u", "-time", "t", "-amount", "a"}
	tests := []struct {
		name     string
		rows     []string // after the header u,t,a
		args     []string
		read     int
		recorded int
		byReason map[string]int
	}{
		{
			name: "no skips",
			rows: []string{"x,2024-01-05,1", "x,2024-02-05,-1", "y,2024-02-06,0"},
			args: money, read: 3, recorded: 3, byReason: map[string]int{},
		},
		{
			name: "blank lines and a quoted line break",
			rows: []string{"x,2024-01-05,1", "", `"y`, `z",2024-01-06,2`, ""},
			args: money, read: 2, recorded: 2, byReason: map[string]int{},
		},
		{
			name: "every reason",
			rows: []string{
				"a,2024-01-05,10.00",                // recorded
				"b,2024-01-40,5",                    // time
				",2024-01-06,5",                     // user
				"c,2024-01-07,12.3.4",               // amount
				"d,2024-01-08,NaN",                  // amount
				"e,2024-01-08,",                     // amount, empty
				"f,2024-01-09",                      // field count
				"f,2024-01-09,1,2",                  // field count
				"a,20240203,-2.50",                  // recorded
				"i,2024-02-04,99999999999999999999", // amount, overflow
				`g,"2024-01-09,1`,                   // CSV syntax, to the end of the file
				"h,2024-02-04,1",
			},
			args: money, read: 11, recorded: 2,
			byReason: map[string]int{"time": 1, "empty user": 1, "amount": 4, "field count": 2, "CSV syntax": 1},
		},
		{
			name: "amounts not read",
			rows: []string{"a,2024-01-05,NaN", "b,2024-01-06,", "c,2024-01-40,1", "d,2024-01-07"},
			args: []string{"-user", "u", "-time", "t"}, read: 4, recorded: 2,
			byReason: map[string]int{"time": 1, "field count": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := "u,t,a\n" + strings.Join(tt.rows, "\n") + "\n"
			path := writeCSV(t, text)
			_, stderr := replay(t, append([]string{"-in", path}, tt.args...)...)
			got := parseSummary(t, stderr)
			sum := 0
			for _, n := range got.byReason {
				sum += n
			}
			if sum != got.read-got.recorded || got.skipped != sum {
				t.Errorf("input:\n%ssummary: %d read, %d recorded, %d skipped, %v by reason: the reasons add up to %d, want read - recorded = %d\nstderr:\n%s",
					text, got.read, got.recorded, got.skipped, got.byReason, sum, got.read-got.recorded, stderr)
			}
			if n := len(skipLines(stderr, path)); n != got.skipped {
				t.Errorf("input:\n%s%d skip messages, but the summary says %d rows skipped\nstderr:\n%s", text, n, got.skipped, stderr)
			}
			if got.read != tt.read || got.recorded != tt.recorded || !maps.Equal(got.byReason, tt.byReason) {
				t.Errorf("input:\n%sgot %d read, %d recorded, by reason %v\nwant %d read, %d recorded, by reason %v\nstderr:\n%s",
					text, got.read, got.recorded, got.byReason, tt.read, tt.recorded, tt.byReason, stderr)
			}
		})
	}
}

func TestNoUsableRow(t *testing.T) {
	tests := []struct {
		name       string
		text       string
		args       []string
		wantStatus int
		wantStderr []string // each on one line of the error
	}{
		{
			name:       "wrong time layout",
			text:       "u,t,a\nx,2024-01-05,1\ny,2024-01-06,2\n",
			args:       []string{"-user", "u", "-time", "t", "-time-layout", "01/02/2006"},
			wantStatus: 1,
			wantStderr: []string{"replay: no row was usable: all 2 rows were skipped", `orders.csv:2: -time-layout "01/02/2006": parsing time "2024-01-05"`},
		},
		{
			name:       "every amount fails to parse",
			text:       "u,t,a\nx,2024-02-05,1.2.3\ny,2024-01-06,NaN\n",
			args:       []string{"-user", "u", "-time", "t", "-amount", "a"},
			wantStatus: 1,
			wantStderr: []string{"replay: no row was usable: all 2 rows were skipped", `orders.csv:2: amount: money: invalid amount "1.2.3"`},
		},
		{
			name:       "every row has too many fields",
			text:       "u,t,a\nx,2024-01-05,26,6\ny,2024-01-06,1,5\n",
			args:       []string{"-user", "u", "-time", "t", "-amount", "a"},
			wantStatus: 1,
			wantStderr: []string{"replay: no row was usable: all 2 rows were skipped", "orders.csv:2: 4 fields, the header has 3"},
		},
		{
			name:       "header only",
			text:       "u,t,a\n",
			args:       []string{"-user", "u", "-time", "t"},
			wantStatus: 1,
			wantStderr: []string{"replay: no row was usable: ", "orders.csv has no rows after the header"},
		},
		{
			name:       "one usable row",
			text:       "u,t,a\nx,01/05/2024,1\ny,2024-01-06,2\n",
			args:       []string{"-user", "u", "-time", "t", "-time-layout", "01/02/2006"},
			wantStatus: 0,
			wantStderr: []string{"replay: 2 rows read, 1 rows recorded, 1 rows skipped (1 time)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeCSV(t, tt.text)
			args := append([]string{"-in", path}, tt.args...)
			var stdout, stderr bytes.Buffer
			got := status(args, &stdout, &stderr)
			if got != tt.wantStatus {
				t.Errorf("input:\n%sstatus(%q) = %d, want %d\nstderr:\n%s", tt.text, tt.args, got, tt.wantStatus, stderr.String())
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("input:\n%sstderr of %q lacks %q; got:\n%s", tt.text, tt.args, want, stderr.String())
				}
			}
			if tt.wantStatus != 0 && stdout.Len() > 0 {
				t.Errorf("input:\n%sstatus(%q) = %d but printed tables:\n%s", tt.text, tt.args, got, stdout.String())
			}
		})
	}
}

// The library's drops are reported only when there are some, in a fixed
// order: a clean file prints no drop line, though kpikit.dropped reports
// every reason at 0.
func TestLibraryDropLines(t *testing.T) {
	path := writeCSV(t, "u,t,a\nann,2024-01-05,10\nbob,2024-01-06,5\n")
	var stdout, stderr bytes.Buffer
	if got := status([]string{"-in", path, "-user", "u", "-time", "t", "-amount", "a"}, &stdout, &stderr); got != 0 {
		t.Fatalf("status = %d\n%s", got, stderr.String())
	}
	if strings.Contains(stderr.String(), "the library dropped") {
		t.Errorf("a clean file reports drops:\n%s", stderr.String())
	}
}

// A malformed amount is skipped and does not make the others finer: with
// its digits counted, 100 would not fit at 18 fractional digits.
func TestMalformedAmountKeepsScale(t *testing.T) {
	path := writeCSV(t, "u,t,a\nann,2024-01-05,100\nbob,2024-01-06,1.2.345678901234567890\n")
	var stdout, stderr bytes.Buffer
	if got := status([]string{"-in", path, "-user", "u", "-time", "t", "-amount", "a"}, &stdout, &stderr); got != 0 {
		t.Fatalf("status = %d, want 0\n%s", got, stderr.String())
	}
	if !strings.Contains(stderr.String(), "2 rows read, 1 rows recorded, 1 rows skipped") {
		t.Errorf("summary does not say one row recorded and one skipped:\n%s", stderr.String())
	}
}

// TestFunnelStepLog replays the funnel-ecommerce dataset as a step log
// with -funnel and checks the funnel table: per entry month, the users per
// step that plain maps over the log give, summing to the published counts.
func TestFunnelStepLog(t *testing.T) {
	dir := dataset(t, "funnel-ecommerce")
	steps := []string{"home_page", "search_page", "payment_page", "payment_confirmation_page"}
	files := []string{"home_page_table.csv", "search_page_table.csv", "payment_page_table.csv", "payment_confirmation_table.csv"}
	reached := make([]map[string]bool, len(steps))
	for i, file := range files {
		reached[i] = map[string]bool{}
		for _, rec := range readAll(t, filepath.Join(dir, file))[1:] {
			reached[i][rec[0]] = true
		}
	}
	var log bytes.Buffer
	log.WriteString("user_id,date,page\n")
	want := map[string][]int64{} // month -> users per step
	for _, rec := range readAll(t, filepath.Join(dir, "user_table.csv"))[1:] {
		month := rec[1][:7]
		if want[month] == nil {
			want[month] = make([]int64, len(steps))
		}
		for i, s := range steps {
			if !reached[i][rec[0]] {
				break
			}
			fmt.Fprintf(&log, "%s,%s,%s\n", rec[0], rec[1], s)
			want[month][i]++
		}
		fmt.Fprintf(&log, "%s,%s,%s\n", rec[0], rec[1], "logout") // not a step: active only
	}
	path := filepath.Join(t.TempDir(), "steps.csv")
	if err := os.WriteFile(path, log.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr := replay(t, "-in", path, "-user", "user_id", "-time", "date", "-step", "page",
		"-funnel", strings.Join(steps, ","), "-period", "month")
	if strings.Contains(stderr, "dropped") {
		t.Errorf("the library dropped rows:\n%s", stderr)
	}
	if out.Funnel == nil {
		t.Fatal("no funnel table")
	}
	got := map[string][]int64{}
	total := make([]int64, len(steps))
	for _, r := range out.Funnel.Periods {
		got[r.Period] = r.Users
		for i, n := range r.Users {
			total[i] += n
		}
		for i := range r.Users {
			if want := float64(r.Users[i]) / float64(r.Users[0]); r.Conversion[i] != want {
				t.Errorf("%s step %d: conversion %v, want %v", r.Period, i+1, r.Conversion[i], want)
			}
		}
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("users per step by entry month (-log +table):\n%s", diff)
	}
	if published := []int64{90400, 45200, 6030, 452}; !slices.Equal(total, published) {
		t.Errorf("users per step over all months %v, published %v", total, published)
	}
	// Every user makes one attempt: the attempts are the same counts.
	if !slices.Equal(out.Funnel.Attempts, total) {
		t.Errorf("attempts %v, want %v", out.Funnel.Attempts, total)
	}
	var active int64
	for _, p := range out.Periods {
		active += p.ActiveUsers
	}
	// Every row makes its user active: distinct counts of about 22,600
	// users a month, within the sketch's error of 90,400 in all.
	if math.Abs(float64(active)-90400)/90400 > 0.01 {
		t.Errorf("active users over the months %d, want 90400 within 1%%", active)
	}
}

// TestFunnelSlidingWindow replays a small step log: the repeated first
// step moves the window, as PostHog's funnels do, and the attempts differ.
func TestFunnelSlidingWindow(t *testing.T) {
	path := writeCSV(t, "user,ts,event\n"+
		"u1,2026-03-02T10:00:00Z,visit\nu1,2026-03-02T10:09:00Z,visit\nu1,2026-03-02T10:12:00Z,cart\n"+
		"u2,2026-03-02T11:00:00Z,visit\nu2,2026-03-02T11:01:00Z,cart\nu2,2026-03-02T11:02:00Z,pay\n"+
		"u2,2026-03-02T12:00:00Z,visit\nu2,2026-03-02T12:01:00Z,coupon\nu2,2026-03-02T12:02:00Z,cart\n"+
		"u3,2026-03-03T09:00:00Z,visit\nu3,2026-03-03T09:01:00Z,coupon\nu3,2026-03-03T09:02:00Z,pay\n")
	out, _ := replay(t, "-in", path, "-user", "user", "-time", "ts", "-step", "event",
		"-funnel", "visit,cart,pay", "-window", "10m", "-period", "day", "-exclude", "coupon:visit:pay")
	want := &funnelTable{Steps: []string{"visit", "cart", "pay"}, Order: "sequential", Window: "10m0s",
		Periods: []funnelRow{
			{Period: "2026-03-02", Users: []int64{2, 2, 1}, Conversion: []float64{1, 1, 0.5}},
			// u3's only window is excluded: it leaves the funnel.
			{Period: "2026-03-03", Users: []int64{0, 0, 0}, Conversion: []float64{0, 0, 0}},
		},
		Attempts: []int64{4, 2, 1}}
	if diff := gocmp.Diff(want, out.Funnel); diff != "" {
		t.Errorf("funnel table (-want +got):\n%s", diff)
	}
}

func readAll(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
