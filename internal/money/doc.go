// Package money keeps amounts of money exactly: int64 units at a declared
// scale (units of 10^-scale of the currency), validated ISO 4217 currency
// codes, overflow-checked sums, and float64 major units only for reporting.
//
// # Usage
//
// A [Unit] is a currency at a scale; by default the currency's minor unit
// (cents for USD), finer with [WithScale] for sub-cent prices:
//
//	usd, err := money.NewUnit("USD")                       // scale 2
//	usage, err := money.NewUnit("USD", money.WithScale(4)) // 13.3125 -> 133125
//	v, err := usd.Parse("12.34")                           // 1234
//	var revenue money.Total
//	ok := revenue.Add(v)                                    // false on overflow
//	ok = revenue.Add(-500)                                  // a refund
//	report := usd.Float(revenue.Load())                     // 7.34
//
// [CurrencyDigits] validates codes against the ISO 4217 list of
// github.com/bojanz/currency: exactly three upper-case letters of a listed
// currency. "usd" is rejected with a message that suggests "USD"; every
// error wraps [ErrCurrency] and quotes the value.
//
// # Parsing
//
// [Parse] accepts plain decimals as found in CSV files: an optional sign,
// digits, an optional point and digits ("12.34", "-5", ".5", "0.0001").
// Exponents, separators, spaces, symbols, NaN and Inf are errors
// ([ErrSyntax]): amounts are never routed through float64. Digits beyond the
// scale must be zeros, otherwise Parse returns [ErrPrecision] instead of
// silently rounding money; [ParseHalfEven] rounds them half to even when
// the caller asks for it. Amounts that do not fit int64 units return
// [ErrRange]. [Format] writes the canonical form with exactly scale
// fractional digits; Parse(Format(v, s), s) == v.
//
// # Arithmetic
//
// [Add] and [Sub] report overflow instead of wrapping. [Total] is a
// concurrent int64 sum whose Add refuses an overflowing amount and leaves
// the sum unchanged, so a hot path can drop and count it. [Rescale] moves an
// amount between scales exactly. [Float] gives the float64 nearest to the
// exact decimal value, for reporting only.
//
// # Performance
//
// Parse, Total.Add and Float do not allocate; Float allocates only for
// amounts above 2^53 units. Format allocates its result.
//
// # Concurrency
//
// All functions are pure; a [Unit] is an immutable value; [Total] is safe
// for concurrent use (a compare-and-swap loop).
package money
