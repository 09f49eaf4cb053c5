// Package shared is the boundary between the customer recorders and a
// state that replicas share: the recorders call only the interfaces of
// this package, and customer/redisstate implements them with Redis. It
// imports no Redis client, so that package customer links none.
package shared

// Backend makes the shared state of each kind of recorder.
type Backend interface {
	// NewActivity returns the shared state of an activity recorder.
	NewActivity(cfg ActivityConfig) (Activity, error)
	// NewProgress returns the shared state of a funnel or a goal.
	NewProgress(cfg ProgressConfig) (Progress, error)
}
