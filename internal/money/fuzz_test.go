package money_test

import (
	"errors"
	"math/big"
	"regexp"
	"strings"
	"testing"

	"github.com/kpikit/kpikit/internal/money"
)

var decimalSyntax = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$`)

// canonical writes a syntactically valid decimal with exactly scale
// fractional digits, by string manipulation only: no sign on zero, no
// leading zeros, fractional digits beyond the scale dropped (they are zeros
// whenever Parse succeeds).
func canonical(s string, scale int) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimLeft(s, "+-")
	ip, fp, _ := strings.Cut(s, ".")
	ip = strings.TrimLeft(ip, "0")
	if ip == "" {
		ip = "0"
	}
	fp = (fp + strings.Repeat("0", scale))[:scale]
	out := ip
	if scale > 0 {
		out += "." + fp
	}
	if neg && strings.Trim(ip+fp, "0") != "" {
		out = "-" + out
	}
	return out
}

// FuzzParse checks Parse and ParseHalfEven against math/big and the
// round trip Format(Parse(x)) == canonical(x); it must never panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"12.34", "-5", "0.0001", "1e3", "NaN", "Inf", ".5", "5.", "-0", "+007.10",
		"12.3400", "0.125", "-0.135", "92233720368547758.07", "-92233720368547758.08",
		"92233720368547758.08", "9.223372036854775807", "", "-", ".", "1,5", " 1",
		"13.3125", "12.9555",
	} {
		for _, scale := range []int{0, 2, 4, 18} {
			f.Add(s, scale)
		}
	}
	f.Fuzz(func(t *testing.T, s string, scale int) {
		scale = ((scale % 19) + 19) % 19
		got, err := money.Parse(s, scale)
		he, herr := money.ParseHalfEven(s, scale)
		if !decimalSyntax.MatchString(s) {
			if !errors.Is(err, money.ErrSyntax) || !errors.Is(herr, money.ErrSyntax) {
				t.Fatalf("Parse(%q, %d) = %d, %v / %d, %v; want ErrSyntax", s, scale, got, err, he, herr)
			}
			return
		}
		r, ok := new(big.Rat).SetString(strings.TrimPrefix(s, "+"))
		if !ok {
			t.Fatalf("big.Rat rejects %q", s)
		}
		r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
		minI, maxI := big.NewInt(-1<<63), big.NewInt(1<<63-1)
		inRange := func(x *big.Int) bool { return x.Cmp(minI) >= 0 && x.Cmp(maxI) <= 0 }

		// Strict: exact integers in range parse; others fail with the
		// matching error.
		switch {
		case r.IsInt() && inRange(r.Num()):
			if err != nil || got != r.Num().Int64() {
				t.Fatalf("Parse(%q, %d) = %d, %v; want %v", s, scale, got, err, r.Num())
			}
			if f := money.Format(got, scale); f != canonical(s, scale) {
				t.Fatalf("Format(Parse(%q, %d)) = %q, want %q", s, scale, f, canonical(s, scale))
			}
			if back, err := money.Parse(money.Format(got, scale), scale); err != nil || back != got {
				t.Fatalf("Parse(Format(%d)) = %d, %v", got, back, err)
			}
		case r.IsInt():
			if !errors.Is(err, money.ErrRange) {
				t.Fatalf("Parse(%q, %d) = %d, %v; want ErrRange", s, scale, got, err)
			}
		default:
			if !errors.Is(err, money.ErrPrecision) && !errors.Is(err, money.ErrRange) {
				t.Fatalf("Parse(%q, %d) = %d, %v; want ErrPrecision", s, scale, got, err)
			}
		}

		// Half-even: round r to the nearest integer, ties to even.
		q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
		twice := new(big.Int).Mul(new(big.Int).Abs(m), big.NewInt(2))
		if c := twice.Cmp(r.Denom()); c > 0 || c == 0 && q.Bit(0) == 1 {
			q.Add(q, big.NewInt(int64(m.Sign())))
		}
		if inRange(q) {
			if herr != nil || he != q.Int64() {
				t.Fatalf("ParseHalfEven(%q, %d) = %d, %v; want %v", s, scale, he, herr, q)
			}
		} else if !errors.Is(herr, money.ErrRange) {
			t.Fatalf("ParseHalfEven(%q, %d) = %d, %v; want ErrRange", s, scale, he, herr)
		}
	})
}
