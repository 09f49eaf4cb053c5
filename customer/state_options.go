package customer

import (
	"time"

	"github.com/kpikit/kpikit/internal/shared"
)

// This file holds the options that choose where a recorder keeps its
// state: in memory (the default), in memory with a snapshot file, or in
// Redis shared by replicas.

// WithSnapshot applies to [NewActivity]. It keeps the state in memory and
// also in the file at path: [NewActivity] loads the file when it exists,
// the recorder writes it every interval (zero: only on shutdown) and on
// [Activity.Shutdown] or [Activity.Close], so that a restart loses at most
// one interval. The file is replaced atomically. A corrupt file, or one
// written by a recorder with another period, horizon or currencies, is
// moved aside, reported through the OTel error handler, and the recorder
// starts empty. The path must not be empty and the interval not negative;
// it excludes [WithState].
func WithSnapshot(path string, interval time.Duration) Option {
	return optionFunc(func(c config) config {
		c.snapPath, c.snapInterval = path, interval
		c.given |= givenSnapshot
		return c
	})
}

// State is where recorders keep state shared by replicas:
// customer/redisstate provides it (redisstate.New). It is implemented only
// within this module.
type State interface{ shared.Backend }

// WithState applies to [NewActivity], [NewFunnel] and [NewGoal]. It keeps
// an activity's distinct-user sets, first-seen cohorts and money totals, or
// a funnel's or goal's user progress and counts, in st, shared by every
// replica that uses the same store and recorder name, so that every
// replica reports the same global values. Recording never waits for the
// store: events are buffered and written in the background (see the
// package documentation, "State"). A nil st is an error: the state would
// stay in memory, per replica. It excludes [WithSnapshot], and for
// funnels and goals [WithMaxUsers] (an activity's cap then bounds the
// first-seen cohorts it keeps in memory).
func WithState(st State) Option {
	return optionFunc(func(c config) config {
		c.given |= givenState
		if st == nil {
			return c.fail(invalidf("WithState(nil): a nil state would keep the state in memory, per replica"))
		}
		c.shared = st
		return c
	})
}
