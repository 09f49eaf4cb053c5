// Package benchmarks compares the cost of kpikit's instrumentation with
// peer libraries, and the accuracy of its distinct counts with peer
// sketches (TestAccuracy). It is a module of its own so that the peers never
// enter the library's dependencies:
//
//	go test -run '^$' -bench . -benchtime=100ms -count=10 | benchstat -col /impl -
//	KPIKIT_ACCURACY_TRIALS=1000 go test -count=1 -run TestAccuracy -v .
package benchmarks
