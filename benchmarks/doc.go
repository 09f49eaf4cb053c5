// Package benchmarks compares the cost of kpikit's instrumentation with
// peer libraries. It is a module of its own so that the peers never enter
// the library's dependencies; it holds benchmarks only:
//
//	go test -run '^$' -bench . -benchtime=100ms -count=10 | benchstat -col /impl -
package benchmarks
