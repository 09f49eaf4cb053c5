package money_test

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/kpikit/kpikit/internal/money"
)

func TestCurrencyDigits(t *testing.T) {
	tests := []struct {
		name    string
		code    string
		want    int
		wantErr string // substring of the error; empty for success
	}{
		{name: "USD", code: "USD", want: 2},
		{name: "JPY", code: "JPY", want: 0},
		{name: "BHD", code: "BHD", want: 3},
		{name: "CLF", code: "CLF", want: 4},
		{name: "EUR", code: "EUR", want: 2},
		{name: "lower case", code: "usd", wantErr: `"usd": codes are upper case, as in "USD"`},
		{name: "mixed case", code: "Eur", wantErr: `"Eur": codes are upper case, as in "EUR"`},
		{name: "empty", code: "", wantErr: `"": want three upper-case letters`},
		{name: "too long", code: "USDT", wantErr: `"USDT"`},
		{name: "unknown", code: "ABC", wantErr: `"ABC": not an ISO 4217 code`},
		{name: "garbage lower", code: "zzz", wantErr: `"zzz": want three upper-case letters`},
		{name: "non-ascii", code: "ÜSD", wantErr: `want three upper-case letters`},
		{name: "spaces", code: " US", wantErr: `want three upper-case letters`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := money.CurrencyDigits(tt.code)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("CurrencyDigits(%q) = %d, %v; want %d", tt.code, got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, money.ErrCurrency) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CurrencyDigits(%q) error = %v, want ErrCurrency containing %q", tt.code, err, tt.wantErr)
			}
		})
	}
}

func TestNewUnit(t *testing.T) {
	tests := []struct {
		name      string
		code      string
		opts      []money.Option
		wantScale int
		wantStr   string
		wantErr   error
	}{
		{name: "default scale", code: "USD", wantScale: 2, wantStr: "USD"},
		{name: "sub-cent", code: "USD", opts: []money.Option{money.WithScale(4)}, wantScale: 4, wantStr: "USD/4"},
		{name: "nil option", code: "JPY", opts: []money.Option{nil}, wantScale: 0, wantStr: "JPY"},
		{name: "coarser", code: "USD", opts: []money.Option{money.WithScale(1)}, wantErr: money.ErrScale},
		{name: "too fine", code: "USD", opts: []money.Option{money.WithScale(19)}, wantErr: money.ErrScale},
		{name: "negative", code: "JPY", opts: []money.Option{money.WithScale(-1)}, wantErr: money.ErrScale},
		{name: "bad code", code: "usd", wantErr: money.ErrCurrency},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := money.NewUnit(tt.code, tt.opts...)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("NewUnit(%q) error = %v, want %v", tt.code, err, tt.wantErr)
				}
				return
			}
			if err != nil || u.Scale() != tt.wantScale || u.String() != tt.wantStr || u.Currency() != tt.code {
				t.Fatalf("NewUnit(%q) = %v (scale %d), %v; want %s scale %d", tt.code, u, u.Scale(), err, tt.wantStr, tt.wantScale)
			}
		})
	}
	u, _ := money.NewUnit("USD", money.WithScale(4))
	v, err := u.Parse("13.3125")
	if err != nil || v != 133125 || u.Format(v) != "13.3125" || u.Float(v) != 13.3125 || u.Digits() != 2 {
		t.Errorf("USD/4: Parse(13.3125) = %d, %v; Format %q; Float %v", v, err, u.Format(v), u.Float(v))
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		scale    int
		want     int64
		wantErr  error
		halfEven int64 // ParseHalfEven result where it differs from Parse's error
	}{
		{name: "cents", in: "12.34", scale: 2, want: 1234},
		{name: "negative integer", in: "-5", scale: 2, want: -500},
		{name: "plus sign", in: "+0.5", scale: 2, want: 50},
		{name: "leading dot", in: ".5", scale: 2, want: 50},
		{name: "trailing dot", in: "5.", scale: 2, want: 500},
		{name: "leading zeros", in: "007.10", scale: 2, want: 710},
		{name: "trailing zeros beyond scale", in: "12.3400", scale: 2, want: 1234},
		{name: "negative zero", in: "-0.00", scale: 2, want: 0},
		{name: "sub-cent", in: "13.3125", scale: 4, want: 133125},
		{name: "smallest", in: "0.0001", scale: 4, want: 1},
		{name: "yen", in: "1500", scale: 0, want: 1500},
		{name: "max", in: "92233720368547758.07", scale: 2, want: math.MaxInt64},
		{name: "min", in: "-92233720368547758.08", scale: 2, want: math.MinInt64},
		{name: "max scale 18", in: "9.223372036854775807", scale: 18, want: math.MaxInt64},
		{name: "many zeros", in: "0." + strings.Repeat("0", 100), scale: 2, want: 0},
		{name: "too precise", in: "12.345", scale: 2, wantErr: money.ErrPrecision, halfEven: 1234},
		{name: "half even down", in: "0.125", scale: 2, wantErr: money.ErrPrecision, halfEven: 12},
		{name: "half even up", in: "0.135", scale: 2, wantErr: money.ErrPrecision, halfEven: 14},
		{name: "half even negative", in: "-0.125", scale: 2, wantErr: money.ErrPrecision, halfEven: -12},
		{name: "above half", in: "0.1250001", scale: 2, wantErr: money.ErrPrecision, halfEven: 13},
		{name: "below half", in: "0.1249999", scale: 2, wantErr: money.ErrPrecision, halfEven: 12},
		{name: "far digit", in: "1.00000000000000000001", scale: 4, wantErr: money.ErrPrecision, halfEven: 10000},
		{name: "relay foods at cents", in: "12.9555", scale: 2, wantErr: money.ErrPrecision, halfEven: 1296},
		{name: "overflow", in: "92233720368547758.08", scale: 2, wantErr: money.ErrRange},
		{name: "overflow negative", in: "-92233720368547758.09", scale: 2, wantErr: money.ErrRange},
		{name: "overflow long", in: strings.Repeat("9", 40), scale: 0, wantErr: money.ErrRange},
		{name: "overflow by scale", in: "100000000000000000", scale: 2, wantErr: money.ErrRange},
		{name: "empty", in: "", scale: 2, wantErr: money.ErrSyntax},
		{name: "sign only", in: "-", scale: 2, wantErr: money.ErrSyntax},
		{name: "dot only", in: ".", scale: 2, wantErr: money.ErrSyntax},
		{name: "exponent", in: "1e3", scale: 2, wantErr: money.ErrSyntax},
		{name: "NaN", in: "NaN", scale: 2, wantErr: money.ErrSyntax},
		{name: "Inf", in: "-Inf", scale: 2, wantErr: money.ErrSyntax},
		{name: "thousands", in: "1,234.56", scale: 2, wantErr: money.ErrSyntax},
		{name: "space", in: " 12.34", scale: 2, wantErr: money.ErrSyntax},
		{name: "symbol", in: "$12.34", scale: 2, wantErr: money.ErrSyntax},
		{name: "two dots", in: "1.2.3", scale: 2, wantErr: money.ErrSyntax},
		{name: "double sign", in: "--1", scale: 2, wantErr: money.ErrSyntax},
		{name: "hex", in: "0x10", scale: 2, wantErr: money.ErrSyntax},
		{name: "bad scale", in: "1", scale: 19, wantErr: money.ErrScale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := money.Parse(tt.in, tt.scale)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Parse(%q, %d) = %d, %v; want error %v", tt.in, tt.scale, got, err, tt.wantErr)
				}
				if tt.wantErr != money.ErrScale && !strings.Contains(err.Error(), tt.in[:min(len(tt.in), 20)]) {
					t.Errorf("error %q does not name the input", err)
				}
				he, herr := money.ParseHalfEven(tt.in, tt.scale)
				if tt.wantErr == money.ErrPrecision {
					if herr != nil || he != tt.halfEven {
						t.Errorf("ParseHalfEven(%q, %d) = %d, %v; want %d", tt.in, tt.scale, he, herr, tt.halfEven)
					}
				} else if !errors.Is(herr, tt.wantErr) {
					t.Errorf("ParseHalfEven(%q, %d) error = %v, want %v", tt.in, tt.scale, herr, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Parse(%q, %d) = %d, %v; want %d", tt.in, tt.scale, got, err, tt.want)
			}
			if he, herr := money.ParseHalfEven(tt.in, tt.scale); herr != nil || he != got {
				t.Errorf("ParseHalfEven(%q, %d) = %d, %v; want %d", tt.in, tt.scale, he, herr, got)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name  string
		units int64
		scale int
		want  string
	}{
		{name: "cents", units: 1234, scale: 2, want: "12.34"},
		{name: "small negative", units: -5, scale: 2, want: "-0.05"},
		{name: "zero", units: 0, scale: 2, want: "0.00"},
		{name: "yen", units: 7, scale: 0, want: "7"},
		{name: "sub-cent", units: 133125, scale: 4, want: "13.3125"},
		{name: "max", units: math.MaxInt64, scale: 2, want: "92233720368547758.07"},
		{name: "min", units: math.MinInt64, scale: 18, want: "-9.223372036854775808"},
		{name: "bad scale", units: 12, scale: 20, want: "12e-20"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := money.Format(tt.units, tt.scale); got != tt.want {
				t.Errorf("Format(%d, %d) = %q, want %q", tt.units, tt.scale, got, tt.want)
			}
		})
	}
}

func TestFloat(t *testing.T) {
	tests := []struct {
		name  string
		units int64
		scale int
		want  float64
	}{
		{name: "cents", units: 185026, scale: 2, want: 1850.26},
		{name: "refund", units: -1999, scale: 2, want: -19.99},
		{name: "sub-cent", units: 133125, scale: 4, want: 13.3125},
		{name: "yen", units: 1500, scale: 0, want: 1500},
		{name: "beyond 2^53", units: math.MaxInt64, scale: 2, want: 92233720368547758.07},
		{name: "min", units: math.MinInt64, scale: 4, want: -922337203685477.5808},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := money.Float(tt.units, tt.scale); got != tt.want {
				t.Errorf("Float(%d, %d) = %v, want %v", tt.units, tt.scale, got, tt.want)
			}
		})
	}
}

func TestAddSub(t *testing.T) {
	tests := []struct {
		name  string
		a, b  int64
		add   int64
		addOK bool
		sub   int64
		subOK bool
	}{
		{name: "refund", a: 1000, b: -250, add: 750, addOK: true, sub: 1250, subOK: true},
		{name: "max plus one", a: math.MaxInt64, b: 1, addOK: false, sub: math.MaxInt64 - 1, subOK: true},
		{name: "min minus one", a: math.MinInt64, b: -1, addOK: false, sub: math.MinInt64 + 1, subOK: true},
		{name: "min minus max", a: math.MinInt64, b: math.MaxInt64, add: -1, addOK: true, subOK: false},
		{name: "zero minus min", a: 0, b: math.MinInt64, add: math.MinInt64, addOK: true, subOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := money.Add(tt.a, tt.b); got != tt.add || ok != tt.addOK {
				t.Errorf("Add(%d, %d) = %d, %v; want %d, %v", tt.a, tt.b, got, ok, tt.add, tt.addOK)
			}
			if got, ok := money.Sub(tt.a, tt.b); got != tt.sub || ok != tt.subOK {
				t.Errorf("Sub(%d, %d) = %d, %v; want %d, %v", tt.a, tt.b, got, ok, tt.sub, tt.subOK)
			}
		})
	}
}

func TestRescale(t *testing.T) {
	tests := []struct {
		name     string
		units    int64
		from, to int
		want     int64
		wantErr  error
	}{
		{name: "finer", units: 1234, from: 2, to: 4, want: 123400},
		{name: "coarser exact", units: 123400, from: 4, to: 2, want: 1234},
		{name: "coarser inexact", units: 133125, from: 4, to: 2, wantErr: money.ErrPrecision},
		{name: "overflow", units: math.MaxInt64 / 10, from: 0, to: 2, wantErr: money.ErrRange},
		{name: "bad scale", units: 1, from: 0, to: 40, wantErr: money.ErrScale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := money.Rescale(tt.units, tt.from, tt.to)
			if !errors.Is(err, tt.wantErr) || err == nil && got != tt.want {
				t.Errorf("Rescale(%d, %d, %d) = %d, %v; want %d, %v", tt.units, tt.from, tt.to, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestTotal(t *testing.T) {
	var tot money.Total
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				tot.Add(300)
				tot.Add(-100) // refund
			}
		})
	}
	wg.Wait()
	if got := tot.Load(); got != 4*1000*200 {
		t.Fatalf("Load() = %d, want %d", got, 4*1000*200)
	}
	tot.Store(math.MaxInt64 - 1)
	if tot.Add(2) || tot.Load() != math.MaxInt64-1 {
		t.Errorf("overflowing Add accepted or changed the total: %d", tot.Load())
	}
	if !tot.Add(1) || tot.Load() != math.MaxInt64 {
		t.Errorf("Add(1) to MaxInt64-1 = %d", tot.Load())
	}
}

func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	var tot money.Total
	tests := []struct {
		name string
		fn   func()
	}{
		{name: "Parse", fn: func() { _, _ = money.Parse("-1234.5678", 4) }},
		{name: "Total.Add", fn: func() { tot.Add(5) }},
		{name: "Float", fn: func() { money.Float(185026, 2) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(1000, tt.fn); got != 0 {
				t.Errorf("%v allocs/op, want 0", got)
			}
		})
	}
}
