package money_test

import (
	"fmt"

	"github.com/kpikit/kpikit/internal/money"
)

func Example() {
	usd, err := money.NewUnit("USD")
	if err != nil {
		fmt.Println(err)
		return
	}
	var revenue money.Total
	for _, s := range []string{"12.34", "5", "-2.50"} {
		v, err := usd.Parse(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		revenue.Add(v)
	}
	fmt.Println(usd.Format(revenue.Load()), usd.Float(revenue.Load()))
	// Output: 14.84 14.84
}

func ExampleNewUnit() {
	u, _ := money.NewUnit("USD", money.WithScale(4))
	v, _ := u.Parse("13.3125")
	fmt.Println(u, v)
	_, err := money.NewUnit("usd")
	fmt.Println(err)
	// Output:
	// USD/4 133125
	// money: invalid currency code "usd": codes are upper case, as in "USD"
}

func ExampleParse() {
	_, err := money.Parse("12.9555", 2)
	fmt.Println(err)
	v, _ := money.ParseHalfEven("12.9555", 2)
	fmt.Println(v)
	// Output:
	// money: more fractional digits than the scale allows: "12.9555" at scale 2
	// 1296
}
