package money

import "fmt"

// Unit is a currency and the scale its amounts are kept in: an int64
// amount v means v × 10^-Scale units of the currency. Build one with
// [NewUnit]; the zero Unit has no currency and scale 0.
type Unit struct {
	code   string
	digits uint8
	scale  uint8
}

// NewUnit validates an ISO 4217 code (see [CurrencyDigits]) and returns its
// unit at the currency's minor-unit scale, or at a finer scale given by
// [WithScale]: NewUnit("USD", WithScale(4)) keeps 13.3125 USD as 133125.
func NewUnit(code string, opts ...Option) (Unit, error) {
	digits, err := CurrencyDigits(code)
	if err != nil {
		return Unit{}, err
	}
	c := newConfig(digits, opts)
	if err := checkScale(c.scale); err != nil {
		return Unit{}, err
	}
	if c.scale < digits {
		return Unit{}, fmt.Errorf("%w %d for %s: coarser than its %d minor-unit digits", ErrScale, c.scale, code, digits)
	}
	return Unit{code: code, digits: uint8(digits), scale: uint8(c.scale)}, nil
}

// Option configures [NewUnit].
type Option interface{ apply(config) config }

type config struct{ scale int }

type optionFunc func(config) config

func (f optionFunc) apply(c config) config { return f(c) }

func newConfig(digits int, opts []Option) config {
	c := config{scale: digits}
	for _, o := range opts {
		if o != nil {
			c = o.apply(c)
		}
	}
	return c
}

// WithScale keeps amounts at scale fractional digits, finer than the
// currency's minor unit (for sub-cent usage pricing); at most [MaxScale].
func WithScale(scale int) Option {
	return optionFunc(func(c config) config { c.scale = scale; return c })
}

// Currency returns the ISO 4217 code.
func (u Unit) Currency() string { return u.code }

// Digits returns the currency's minor-unit digits.
func (u Unit) Digits() int { return int(u.digits) }

// Scale returns the number of fractional digits amounts are kept in.
func (u Unit) Scale() int { return int(u.scale) }

// Parse is [Parse] at u's scale.
func (u Unit) Parse(s string) (int64, error) { return Parse(s, int(u.scale)) }

// Format is [Format] at u's scale.
func (u Unit) Format(units int64) string { return Format(units, int(u.scale)) }

// Float is [Float] at u's scale: major units for reporting.
func (u Unit) Float(units int64) float64 { return Float(units, int(u.scale)) }

// String returns the code and, when finer than the minor unit, the scale:
// "USD", "USD/4".
func (u Unit) String() string {
	if u.scale == u.digits {
		return u.code
	}
	return fmt.Sprintf("%s/%d", u.code, u.scale)
}
