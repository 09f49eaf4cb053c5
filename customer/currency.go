package customer

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bojanz/currency"

	"github.com/kpikit/kpikit/internal/money"
	"github.com/kpikit/kpikit/internal/shared"
)

// This file holds the currencies of an Activity. Each currency has a slot:
// the index of its money in every period and cohort cell, in the shared
// state (as shared.Currencies) and in the attribute sets. Currencies declared with WithCurrencies
// take the first slots at construction, and no other currency is taken.
// Without WithCurrencies every ISO 4217 currency is taken at its minor
// unit: a currency gets the next free slot on its first purchase or
// refund, up to MaxCurrencies, so that only the currencies in use have
// state and series.

// Results of currencies.index besides a slot.
const (
	noCurrency    = -1 // not a currency the recorder takes
	currencyLimit = -2 // no slot left
)

// currencies are the slots of an Activity's currencies.
type currencies struct {
	declared bool
	n        atomic.Int32 // slots in use
	units    [MaxCurrencies]money.Unit
	mu       sync.Mutex // serialises adding slots; units[i] is written before n passes i
}

// newCurrencies returns the currencies declared as units, or, when there
// are none and declared is false, the table that takes any currency.
func newCurrencies(units []money.Unit, declared bool) *currencies {
	c := &currencies{declared: declared}
	copy(c.units[:], units)
	c.n.Store(int32(len(units)))
	return c
}

// slots returns the number of slots the money state keeps per period and
// cell: the declared currencies, or MaxCurrencies.
func (c *currencies) slots() int {
	if c.declared {
		return int(c.n.Load())
	}
	return MaxCurrencies
}

// len returns the number of slots in use.
func (c *currencies) len() int { return int(c.n.Load()) }

// unit returns the unit of slot i < len().
func (c *currencies) unit(i int) money.Unit { return c.units[i] }

// codes returns the currencies of the slots in use.
func (c *currencies) codes() []string {
	n := c.len()
	out := make([]string, n)
	for i := range n {
		out[i] = c.units[i].Currency()
	}
	return out
}

// lookup returns the slot of code, or noCurrency.
func (c *currencies) lookup(code string) int {
	n := int(c.n.Load())
	for i := range n {
		if c.units[i].Currency() == code {
			return i
		}
	}
	return noCurrency
}

// index returns the slot of code, giving it the next free slot when the
// recorder takes any currency: noCurrency for a code it does not take,
// currencyLimit when no slot is left. It does not allocate unless it adds
// a slot.
func (c *currencies) index(code string) int {
	if i := c.lookup(code); i >= 0 || c.declared {
		return i
	}
	return c.add(code)
}

// takes reports whether the recorder takes code without a slot yet: it
// takes any currency and code is an ISO 4217 code.
func (c *currencies) takes(code string) bool {
	if c.declared || len(code) != 3 {
		return false
	}
	_, ok := currency.GetDigits(code)
	return ok
}

func (c *currencies) add(code string) int {
	if !c.takes(code) {
		return noCurrency
	}
	if c.n.Load() == MaxCurrencies {
		return currencyLimit
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := c.lookup(code); i >= 0 {
		return i
	}
	n := int(c.n.Load())
	if n == MaxCurrencies {
		return currencyLimit
	}
	u, err := money.NewUnit(strings.Clone(code))
	if err != nil {
		return noCurrency
	}
	c.units[n] = u
	c.n.Store(int32(n + 1))
	return n
}

var _ shared.Currencies = (*currencies)(nil)

// Declared implements shared.Currencies.
func (c *currencies) Declared() bool { return c.declared }

// Slots implements shared.Currencies.
func (c *currencies) Slots() int { return c.slots() }

// Len implements shared.Currencies.
func (c *currencies) Len() int { return c.len() }

// Code implements shared.Currencies.
func (c *currencies) Code(i int) string { return c.units[i].Currency() }

// Take implements shared.Currencies.
func (c *currencies) Take(code string) { c.index(code) }

// unitOf returns the unit of code: its slot's, or, when the recorder takes
// any currency, the currency's minor unit, also before it has a slot.
func (c *currencies) unitOf(code string) (money.Unit, bool) {
	if i := c.lookup(code); i >= 0 {
		return c.units[i], true
	}
	if c.declared {
		return money.Unit{}, false
	}
	u, err := money.NewUnit(code)
	return u, err == nil
}
