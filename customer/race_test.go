//go:build race

package customer_test

const raceEnabled = true
