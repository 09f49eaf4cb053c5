package period

import (
	"fmt"
	"strconv"
	"time"
)

// Unit is a kind of period.
type Unit uint8

const (
	// Day is a calendar day.
	Day Unit = iota + 1
	// Week is an ISO 8601 week: Monday to Sunday, numbered within the ISO
	// week-numbering year.
	Week
	// Month is a calendar month.
	Month
)

// Parse returns the unit named "day", "week" or "month".
func Parse(s string) (Unit, error) {
	switch s {
	case "day":
		return Day, nil
	case "week":
		return Week, nil
	case "month":
		return Month, nil
	}
	return 0, fmt.Errorf("period: unknown unit %q, want day, week or month", s)
}

// String returns "day", "week" or "month".
func (u Unit) String() string {
	switch u {
	case Day:
		return "day"
	case Week:
		return "week"
	case Month:
		return "month"
	}
	return "Unit(" + strconv.Itoa(int(u)) + ")"
}

// Valid reports whether u is Day, Week or Month.
func (u Unit) Valid() bool { return u >= Day && u <= Month }

// epochMonday is the day number (days since 1970-01-01) of Monday
// 1969-12-29, the start of week index 0.
const epochMonday = -3

// Index returns the ordinal of the period that contains t in loc: days
// since 1970-01-01, weeks since the week of 1970-01-01, or months since
// 1970-01. Consecutive periods have consecutive indexes; an invalid unit
// gives 0.
func (u Unit) Index(t time.Time, loc *time.Location) int64 {
	y, m, d := t.In(orUTC(loc)).Date()
	switch u {
	case Day:
		return daysFromCivil(int64(y), int64(m), int64(d))
	case Week:
		return floorDiv(daysFromCivil(int64(y), int64(m), int64(d))-epochMonday, 7)
	case Month:
		return (int64(y)-1970)*12 + int64(m) - 1
	}
	return 0
}

// IndexOfDay returns the index of the period that contains day d (days
// since 1970-01-01): for a date it agrees with [Unit.Index], without a
// time.Time. An invalid unit gives 0.
func (u Unit) IndexOfDay(d int64) int64 {
	switch u {
	case Day:
		return d
	case Week:
		return floorDiv(d-epochMonday, 7)
	case Month:
		y, m, _ := civilFromDays(d)
		return (y-1970)*12 + m - 1
	}
	return 0
}

// DayOfUnix returns the UTC day (days since 1970-01-01) of Unix second
// sec.
func DayOfUnix(sec int64) int64 { return floorDiv(sec, 86400) }

// Offset returns how many periods separate the period of from and that of
// to: 0 for the same period, negative when to is earlier.
func (u Unit) Offset(from, to time.Time, loc *time.Location) int64 {
	return u.Index(to, loc) - u.Index(from, loc)
}

// Start returns the start, in loc, of the period with index i.
func (u Unit) Start(i int64, loc *time.Location) time.Time {
	loc = orUTC(loc)
	switch u {
	case Day:
		y, m, d := civilFromDays(i)
		return time.Date(int(y), time.Month(m), int(d), 0, 0, 0, 0, loc)
	case Week:
		y, m, d := civilFromDays(i*7 + epochMonday)
		return time.Date(int(y), time.Month(m), int(d), 0, 0, 0, 0, loc)
	case Month:
		return time.Date(1970+int(floorDiv(i, 12)), time.Month(i-floorDiv(i, 12)*12+1), 1, 0, 0, 0, 0, loc)
	}
	return time.Time{}
}

// Truncate returns the start, in loc, of the period that contains t.
func (u Unit) Truncate(t time.Time, loc *time.Location) time.Time {
	return u.Start(u.Index(t, loc), loc)
}

// Label returns the label of the period that contains t in loc.
func (u Unit) Label(t time.Time, loc *time.Location) string {
	var b [16]byte
	return string(u.AppendLabel(b[:0], t, loc))
}

// AppendLabel appends the label of the period that contains t in loc to
// dst: "2009-01-06" (day), "2009-W02" (week), "2009-01" (month).
func (u Unit) AppendLabel(dst []byte, t time.Time, loc *time.Location) []byte {
	t = t.In(orUTC(loc))
	switch u {
	case Day:
		y, m, d := t.Date()
		dst = appendInt(dst, y, 4)
		dst = append(dst, '-')
		dst = appendInt(dst, int(m), 2)
		dst = append(dst, '-')
		return appendInt(dst, d, 2)
	case Week:
		y, w := t.ISOWeek()
		dst = appendInt(dst, y, 4)
		dst = append(dst, '-', 'W')
		return appendInt(dst, w, 2)
	case Month:
		y, m, _ := t.Date()
		dst = appendInt(dst, y, 4)
		dst = append(dst, '-')
		return appendInt(dst, int(m), 2)
	}
	return dst
}

func orUTC(loc *time.Location) *time.Location {
	if loc == nil {
		return time.UTC
	}
	return loc
}

// appendInt appends n with at least width digits, zero-padded.
func appendInt(dst []byte, n, width int) []byte {
	if n < 0 {
		dst = append(dst, '-')
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n >= 10 || width > 1 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		width--
	}
	i--
	b[i] = byte('0' + n)
	return append(dst, b[i:]...)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date (H. Hinnant's algorithm).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int64) (y, m, d int64) {
	z += 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}
