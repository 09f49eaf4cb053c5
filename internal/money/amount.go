package money

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"
)

// MaxScale is the largest scale: 10^18 units per major unit still leaves
// int64 room for amounts up to 9.2 major units, so finer scales are useless.
const MaxScale = 18

var (
	// ErrCurrency: the currency code is not a valid ISO 4217 code.
	ErrCurrency = errors.New("money: invalid currency code")
	// ErrScale: the scale is outside 0..MaxScale or coarser than the
	// currency's minor unit.
	ErrScale = errors.New("money: invalid scale")
	// ErrSyntax: the text is not a plain decimal number.
	ErrSyntax = errors.New("money: invalid amount")
	// ErrPrecision: the amount has more significant fractional digits than
	// the scale allows.
	ErrPrecision = errors.New("money: more fractional digits than the scale allows")
	// ErrRange: the amount does not fit in int64 units at the scale.
	ErrRange = errors.New("money: amount out of range")
)

var pow10 = func() (t [MaxScale + 1]uint64) {
	t[0] = 1
	for i := 1; i < len(t); i++ {
		t[i] = t[i-1] * 10
	}
	return t
}()

func checkScale(scale int) error {
	if scale < 0 || scale > MaxScale {
		return fmt.Errorf("%w %d: want 0..%d", ErrScale, scale, MaxScale)
	}
	return nil
}

// Parse converts a decimal string into int64 units at scale (units of
// 10^-scale major units), exactly: Parse("12.34", 2) is 1234 and
// Parse("13.3125", 4) is 133125.
//
// The syntax is an optional sign, decimal digits and an optional decimal
// point with more digits: "12", "-5", "+0.5", ".5", "5.", "007.10". At least
// one digit is required. Exponents ("1e3"), thousands separators,
// surrounding spaces, currency symbols, NaN and Inf are rejected with
// [ErrSyntax]. Fractional digits beyond the scale are allowed only when they
// are zeros ("12.3400" at scale 2); otherwise Parse returns [ErrPrecision]
// rather than round (see [ParseHalfEven]). An amount outside int64 returns
// [ErrRange]. Errors name the input.
func Parse(s string, scale int) (int64, error) { return parse(s, scale, false) }

// ParseHalfEven is [Parse] that rounds fractional digits beyond the scale
// to the nearest unit, ties to even ("0.125" at scale 2 is 12, "0.135" is
// 14, "-0.125" is -12), instead of returning [ErrPrecision].
func ParseHalfEven(s string, scale int) (int64, error) { return parse(s, scale, true) }

func parse(s string, scale int, round bool) (int64, error) {
	if err := checkScale(scale); err != nil {
		return 0, err
	}
	const bound = 1 << 63 // magnitude of math.MinInt64
	i, neg := 0, false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		i++
	}
	var mag uint64
	overflow, digits, frac := false, 0, 0
	var first byte // first digit beyond the scale
	sticky := false
	push := func(d uint64) {
		if mag > (bound-d)/10 {
			overflow = true
		}
		mag = mag*10 + d
	}
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if !overflow {
			push(uint64(s[i] - '0'))
		}
		digits++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			d := s[i] - '0'
			digits++
			switch {
			case frac < scale:
				if !overflow {
					push(uint64(d))
				}
				frac++
			case first == 0 && !sticky && frac == scale:
				first, frac = '0'+d, frac+1
			default:
				sticky = sticky || d != 0
			}
		}
	}
	if i != len(s) || digits == 0 {
		return 0, fmt.Errorf("%w %s: want a decimal number such as -12.34", ErrSyntax, quote(s))
	}
	if overflow {
		return 0, fmt.Errorf("%w: %s at scale %d", ErrRange, quote(s), scale)
	}
	for ; frac < scale; frac++ {
		if mag > bound/10 {
			return 0, fmt.Errorf("%w: %s at scale %d", ErrRange, quote(s), scale)
		}
		mag *= 10
	}
	if extra := first > '0' || sticky; extra {
		if !round {
			return 0, fmt.Errorf("%w: %s at scale %d", ErrPrecision, quote(s), scale)
		}
		if first > '5' || first == '5' && (sticky || mag&1 == 1) {
			if mag == bound {
				return 0, fmt.Errorf("%w: %s at scale %d", ErrRange, quote(s), scale)
			}
			mag++
		}
	}
	if neg {
		return int64(-mag), nil // -(1<<63) wraps to math.MinInt64
	}
	if mag > math.MaxInt64 {
		return 0, fmt.Errorf("%w: %s at scale %d", ErrRange, quote(s), scale)
	}
	return int64(mag), nil
}

// Format returns units at scale as a decimal string with exactly scale
// fractional digits: Format(1234, 2) is "12.34", Format(-5, 2) is "-0.05",
// Format(7, 0) is "7". Parse(Format(v, scale), scale) == v. A scale outside
// 0..MaxScale is written as "<units>e-<scale>".
func Format(units int64, scale int) string {
	if checkScale(scale) != nil {
		return strconv.FormatInt(units, 10) + "e-" + strconv.Itoa(scale)
	}
	var buf [48]byte
	mag := uint64(units)
	if units < 0 {
		mag = -mag
	}
	n := len(buf)
	for range scale {
		n--
		buf[n] = byte('0' + mag%10)
		mag /= 10
	}
	if scale > 0 {
		n--
		buf[n] = '.'
	}
	for {
		n--
		buf[n] = byte('0' + mag%10)
		mag /= 10
		if mag == 0 {
			break
		}
	}
	if units < 0 {
		n--
		buf[n] = '-'
	}
	return string(buf[n:])
}

// Float converts units at scale to float64 major units, for reporting only:
// the result is the float64 nearest to the exact decimal value.
func Float(units int64, scale int) float64 {
	if checkScale(scale) != nil {
		return float64(units) * math.Pow10(-scale)
	}
	const exact = 1 << 53
	if units >= -exact && units <= exact {
		// Both operands are exact, so the one division rounds correctly.
		return float64(units) / float64(pow10[scale])
	}
	f, _ := strconv.ParseFloat(Format(units, scale), 64)
	return f
}

// Add returns a+b and whether it fits in int64; on overflow it returns 0,
// false.
func Add(a, b int64) (int64, bool) {
	c := a + b
	if (a^c)&(b^c) < 0 {
		return 0, false
	}
	return c, true
}

// Sub returns a-b and whether it fits in int64; on overflow it returns 0,
// false.
func Sub(a, b int64) (int64, bool) {
	c := a - b
	if (a^b)&(a^c) < 0 {
		return 0, false
	}
	return c, true
}

// Rescale converts units from one scale to another, exactly: to a finer
// scale it multiplies ([ErrRange] on overflow), to a coarser one it divides
// and returns [ErrPrecision] unless the division is exact.
func Rescale(units int64, from, to int) (int64, error) {
	if err := errors.Join(checkScale(from), checkScale(to)); err != nil {
		return 0, err
	}
	if to >= from {
		f := int64(pow10[to-from])
		if units > math.MaxInt64/f || units < math.MinInt64/f {
			return 0, fmt.Errorf("%w: %d from scale %d to %d", ErrRange, units, from, to)
		}
		return units * f, nil
	}
	f := int64(pow10[from-to])
	if units%f != 0 {
		return 0, fmt.Errorf("%w: %d from scale %d to %d", ErrPrecision, units, from, to)
	}
	return units / f, nil
}

// Total is an int64 sum of units that never overflows: an Add that would
// is refused. The zero value is 0 and ready to use; it is safe for
// concurrent use and does not allocate.
type Total struct{ v atomic.Int64 }

// Add adds units (negative for a refund) and reports whether it did; it
// refuses, leaving the total unchanged, when the sum would overflow int64.
func (t *Total) Add(units int64) bool {
	for {
		old := t.v.Load()
		n, ok := Add(old, units)
		if !ok {
			return false
		}
		if t.v.CompareAndSwap(old, n) {
			return true
		}
	}
}

// Load returns the total.
func (t *Total) Load() int64 { return t.v.Load() }

// Store sets the total, for loading a snapshot.
func (t *Total) Store(units int64) { t.v.Store(units) }

// Swap sets the total and returns the old one, for handing a partial sum
// on.
func (t *Total) Swap(units int64) int64 { return t.v.Swap(units) }
