package period_test

import (
	"testing"
	"time"

	"github.com/kpikit/kpikit/internal/period"
)

func TestLabel(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	tests := []struct {
		name string
		unit period.Unit
		t    time.Time
		loc  *time.Location
		want string
	}{
		{"day", period.Day, time.Date(2009, 1, 6, 15, 0, 0, 0, time.UTC), nil, "2009-01-06"},
		{"week", period.Week, time.Date(2009, 1, 6, 0, 0, 0, 0, time.UTC), time.UTC, "2009-W02"},
		{"month", period.Month, time.Date(2009, 1, 31, 23, 59, 0, 0, time.UTC), time.UTC, "2009-01"},
		{"week of ISO year before", period.Week, time.Date(2010, 1, 3, 0, 0, 0, 0, time.UTC), time.UTC, "2009-W53"},
		{"week of ISO year after", period.Week, time.Date(2008, 12, 29, 0, 0, 0, 0, time.UTC), time.UTC, "2009-W01"},
		{"day in location", period.Day, time.Date(2009, 1, 7, 3, 0, 0, 0, time.UTC), ny, "2009-01-06"},
		{"month in location", period.Month, time.Date(2009, 2, 1, 3, 0, 0, 0, time.UTC), ny, "2009-01"},
		{"invalid unit", period.Unit(9), time.Date(2009, 2, 1, 3, 0, 0, 0, time.UTC), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.unit.Label(tt.t, tt.loc); got != tt.want {
				t.Errorf("%v.Label(%v, %v) = %q, want %q", tt.unit, tt.t, tt.loc, got, tt.want)
			}
		})
	}
}

func TestIndexAndStart(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	tests := []struct {
		unit period.Unit
		t    time.Time
		loc  *time.Location
		idx  int64
	}{
		{period.Day, time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), nil, 0},
		{period.Day, time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC), nil, -1},
		{period.Day, time.Date(2009, 1, 6, 12, 0, 0, 0, time.UTC), nil, 14250},
		{period.Week, time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), nil, 0},
		{period.Week, time.Date(1970, 1, 5, 0, 0, 0, 0, time.UTC), nil, 1},
		{period.Week, time.Date(1969, 12, 28, 0, 0, 0, 0, time.UTC), nil, -1},
		{period.Month, time.Date(1970, 1, 31, 0, 0, 0, 0, time.UTC), nil, 0},
		{period.Month, time.Date(1969, 12, 1, 0, 0, 0, 0, time.UTC), nil, -1},
		{period.Month, time.Date(2009, 3, 1, 0, 0, 0, 0, ny), ny, 39*12 + 2},
	}
	for _, tt := range tests {
		if got := tt.unit.Index(tt.t, tt.loc); got != tt.idx {
			t.Errorf("%v.Index(%v) = %d, want %d", tt.unit, tt.t, got, tt.idx)
		}
		start := tt.unit.Start(tt.idx, tt.loc)
		if start.After(tt.t) || tt.unit.Index(start, tt.loc) != tt.idx || tt.unit.Index(start.Add(-time.Nanosecond), tt.loc) != tt.idx-1 {
			t.Errorf("%v.Start(%d) = %v: not the start of the period of %v", tt.unit, tt.idx, start, tt.t)
		}
	}
}

// TestRoundTrip walks every day of 1900..2100 and checks that indexes are
// consecutive, starts invert indexes, and week and month labels agree with
// the standard library.
func TestRoundTrip(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = time.FixedZone("minus5", -5*3600)
	}
	for _, loc := range []*time.Location{time.UTC, ny} {
		d := time.Date(1900, 1, 1, 12, 0, 0, 0, loc)
		prev := period.Day.Index(d, loc) - 1
		for d.Year() < 2100 {
			i := period.Day.Index(d, loc)
			if i != prev+1 {
				t.Fatalf("%v: day index %d after %d", d, i, prev)
			}
			prev = i
			if s := period.Day.Start(i, loc); s.Year() != d.Year() || s.YearDay() != d.YearDay() || s.Hour() != 0 {
				t.Fatalf("%v: Day.Start(%d) = %v", d, i, s)
			}
			w := period.Week.Truncate(d, loc)
			if w.Weekday() != time.Monday || d.Sub(w) >= 8*24*time.Hour || d.Before(w) {
				t.Fatalf("%v: week starts %v", d, w)
			}
			y, wk := d.ISOWeek()
			if got, want := period.Week.Label(d, loc), time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).Format("2006")+"-W"+two(wk); got != want {
				t.Fatalf("%v: week label %q, want %q", d, got, want)
			}
			if got, want := period.Month.Label(d, loc), d.Format("2006-01"); got != want {
				t.Fatalf("%v: month label %q, want %q", d, got, want)
			}
			d = d.AddDate(0, 0, 1)
		}
	}
}

func two(n int) string {
	return string([]byte{byte('0' + n/10), byte('0' + n%10)})
}

func TestOffset(t *testing.T) {
	a := time.Date(2009, 1, 31, 0, 0, 0, 0, time.UTC)
	b := time.Date(2009, 3, 1, 0, 0, 0, 0, time.UTC)
	for u, want := range map[period.Unit]int64{period.Day: 29, period.Week: 4, period.Month: 2} {
		if got := u.Offset(a, b, nil); got != want {
			t.Errorf("%v.Offset = %d, want %d", u, got, want)
		}
		if got := u.Offset(b, a, nil); got != -want {
			t.Errorf("%v.Offset backwards = %d, want %d", u, got, -want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, u := range []period.Unit{period.Day, period.Week, period.Month} {
		got, err := period.Parse(u.String())
		if err != nil || got != u || !got.Valid() {
			t.Errorf("Parse(%q) = %v, %v", u.String(), got, err)
		}
	}
	if _, err := period.Parse("fortnight"); err == nil || err.Error() != `period: unknown unit "fortnight", want day, week or month` {
		t.Errorf("Parse(fortnight) error = %v", err)
	}
	if period.Unit(0).Valid() || period.Unit(0).String() != "Unit(0)" {
		t.Error("zero unit")
	}
}

func TestAppendLabelAllocs(t *testing.T) {
	buf := make([]byte, 0, 16)
	d := time.Date(2009, 1, 6, 0, 0, 0, 0, time.UTC)
	for _, u := range []period.Unit{period.Day, period.Week, period.Month} {
		if n := testing.AllocsPerRun(100, func() { buf = u.AppendLabel(buf[:0], d, time.UTC) }); n != 0 {
			t.Errorf("%v.AppendLabel: %v allocs", u, n)
		}
	}
}

func BenchmarkAppendLabel(b *testing.B) {
	buf := make([]byte, 0, 16)
	d := time.Date(2009, 1, 6, 0, 0, 0, 0, time.UTC)
	for _, u := range []period.Unit{period.Day, period.Week, period.Month} {
		b.Run(u.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				buf = u.AppendLabel(buf[:0], d, time.UTC)
			}
		})
	}
}

func BenchmarkIndex(b *testing.B) {
	d := time.Date(2009, 1, 6, 0, 0, 0, 0, time.UTC)
	for _, u := range []period.Unit{period.Day, period.Week, period.Month} {
		b.Run(u.String(), func(b *testing.B) {
			b.ReportAllocs()
			var s int64
			for b.Loop() {
				s += u.Index(d, time.UTC)
			}
			_ = s
		})
	}
}

func TestIndexOfDayAgreesWithIndex(t *testing.T) {
	start := time.Date(1969, 1, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 365*60; i += 3 {
		tm := start.AddDate(0, 0, i)
		d := period.DayOfUnix(tm.Unix())
		if d != period.Day.Index(tm, time.UTC) {
			t.Fatalf("DayOfUnix(%v) = %d, want %d", tm, d, period.Day.Index(tm, time.UTC))
		}
		for _, u := range []period.Unit{period.Day, period.Week, period.Month} {
			if got, want := u.IndexOfDay(d), u.Index(tm, time.UTC); got != want {
				t.Fatalf("%v.IndexOfDay(%d) for %v = %d, want %d", u, d, tm, got, want)
			}
		}
	}
}
