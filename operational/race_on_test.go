//go:build race

package operational_test

const raceEnabled = true
