//go:build !race

package selfobs_test

const raceEnabled = false
