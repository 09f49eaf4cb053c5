//go:build !race

package customer_test

const raceEnabled = false
