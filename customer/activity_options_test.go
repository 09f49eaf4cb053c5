package customer_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kpikit/kpikit/customer"
)

// TestActivityOptionsThatCannotWork: an option value that cannot do what
// the option says is an error wrapping ErrInvalidConfig that names it,
// rather than silently meaning something else.
func TestActivityOptionsThatCannotWork(t *testing.T) {
	tests := []struct {
		name string
		opts []customer.Option
		want string // in the error message
	}{
		// WithScale: "at least every declared currency's minor-unit
		// digits and at most 18". -1 was taken as "no scale given".
		{"negative scale", []customer.Option{customer.WithCurrencies("USD"), customer.WithScale(-1)}, "-1"},
		{"negative scale, zero-digit currency", []customer.Option{customer.WithCurrencies("JPY"), customer.WithScale(-3)}, "-3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := customer.NewActivity("shop", tt.opts...)
			if a != nil {
				_ = a.Close()
				t.Fatalf("NewActivity accepted %s (currencies %v)", tt.name, a.Currencies())
			}
			if !errors.Is(err, customer.ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v does not name %q", err, tt.want)
			}
		})
	}
}
