package money

import (
	"fmt"
	"strings"

	"github.com/bojanz/currency"
)

// CurrencyDigits validates an ISO 4217 currency code and returns the number
// of digits of its minor unit (2 for USD, 0 for JPY, 3 for BHD, 4 for CLF).
// Codes are three upper-case letters; anything else, and codes that ISO 4217
// does not list, return an error wrapping [ErrCurrency] that names the value.
func CurrencyDigits(code string) (int, error) {
	if len(code) != 3 || strings.IndexFunc(code, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
		if up := strings.ToUpper(code); up != code && len(up) == 3 && currency.IsValid(up) {
			return 0, fmt.Errorf("%w %s: codes are upper case, as in %q", ErrCurrency, quote(code), up)
		}
		return 0, fmt.Errorf("%w %s: want three upper-case letters", ErrCurrency, quote(code))
	}
	d, ok := currency.GetDigits(code)
	if !ok {
		return 0, fmt.Errorf("%w %s: not an ISO 4217 code", ErrCurrency, quote(code))
	}
	return int(d), nil
}

// quote quotes s for an error message, shortened when long.
func quote(s string) string {
	const maxLen = 40
	if len(s) > maxLen {
		return fmt.Sprintf("%q...", s[:maxLen])
	}
	return fmt.Sprintf("%q", s)
}
