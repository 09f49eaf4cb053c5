// Package customer records customer KPIs as OpenTelemetry metrics:
// conversion funnels ([Funnel]) and goal conversion ([Goal]). It depends on
// the OpenTelemetry metric API only; any MeterProvider receives the metrics.
//
// A user id is never a metric attribute. Users are counted exactly from
// per-user progress state held in memory, bounded by a cap; the attributes
// are the recorder's name, its steps and a few declared segment
// dimensions with a cap on their values.
//
// # Usage
//
//	checkout, err := customer.NewFunnel("checkout",
//		[]string{"visit", "search", "cart", "pay"},
//		customer.WithSegments("device", "plan"))
//	if err != nil {
//		return err
//	}
//	defer checkout.Close()
//
//	checkout.Step(ctx, userID, "visit", "mobile", "free") // now
//	checkout.StepAt(ctx, orderTime, userID, "pay")        // at an event time
//
//	trial, err := customer.NewGoal("trial_to_paid", customer.WithSegments("variant"))
//	trial.Expose(ctx, userID, "B")
//	trial.Convert(ctx, userID)
//
// # Definitions
//
// These follow the product-analytics tools (PostHog, Amplitude, Mixpanel).
//
// An attempt is one user's progress through a funnel. It starts with an
// event that can start one (the first step; in [Any] order, any step) and
// lasts the conversion window ([WithWindow], default 14 days) from that
// event's time. Within an attempt each step counts once, whatever the
// repeats; once the window has expired the user's next starting event
// starts a new attempt, which counts again. Steps are counted by the
// [Order]: [Sequential] (default) counts a step once every earlier step was
// reached, other events in between being ignored; [Any] counts every step
// the first time it is reached; [Strict] ends the attempt at any step that
// is not the next one or a repeat of the current one.
//
// The segment values of an attempt are those given with the event that
// started it (first touch); values given with later events are ignored. A
// goal is a two-step sequential funnel, exposure then conversion, that also
// counts every event: repeated exposures and conversions within the window
// count as events of the attempt, with its segment values; a conversion
// without an exposure in the window is not counted.
//
// Events carry their time ([Funnel.StepAt], [Goal.ExposeAt],
// [Goal.ConvertAt]; the forms without it use the clock). The time decides
// the attempt an event belongs to; events of one attempt are applied in
// the order they arrive, an event earlier than its attempt's start counting
// as if at the start. An event more than [FutureTolerance] ahead of the
// clock, one before 1970, and one more than a window behind the latest
// event seen (the watermark, which never passes the clock) are dropped.
//
// # Metrics
//
// All are reported under the instrumentation scope [ScopeName]. Counters
// are cumulative and only grow, so that backends can take rates and
// increases over any range; ratios are gauges. Every segment dimension
// declared with [WithSegments] is an attribute of the same name.
//
//   - customer.funnel.users (counter, {user}; funnel, funnel.step,
//     funnel.step.index, segments): attempts that reached the step. Exact
//     while the tracked users are within the cap.
//   - customer.funnel.conversion (gauge, 1; funnel, funnel.step,
//     funnel.step.index, funnel.basis, segments): users of the step
//     divided by users of the previous step (funnel.basis="previous") or of
//     the first step (funnel.basis="first"), since the start; reported for
//     the second step on, when the divisor is not zero. Over a time range,
//     divide increases of customer.funnel.users instead; across segments,
//     divide their sums.
//   - customer.funnel.time_to_convert (histogram, s; funnel, segments):
//     time from the start of an attempt to its reaching every step.
//   - customer.funnel.tracked_users (up-down counter, {user}; funnel):
//     attempts held in memory, including expired ones not yet reclaimed.
//   - customer.goal.exposed_users (counter, {user}; goal, segments):
//     attempts started by an exposure.
//   - customer.goal.converted_users (counter, {user}; goal, segments):
//     attempts with a conversion inside the window.
//   - customer.goal.exposures (counter, {exposure}; goal, segments):
//     exposure events inside attempts, repeats included.
//   - customer.goal.conversions (counter, {conversion}; goal, segments):
//     conversion events inside attempts, repeats included.
//   - customer.goal.conversion (gauge, 1; goal, segments): converted users
//     divided by exposed users, since the start.
//   - customer.goal.time_to_convert (histogram, s; goal, segments): time
//     from exposure to the first conversion.
//   - customer.goal.tracked_users (up-down counter, {user}; goal).
//   - kpikit.dropped (counter, {event}; kpikit.component="customer.funnel"
//     or "customer.goal", reason): events dropped or segment values
//     folded. Reasons: empty_user_id, long_user_id (over [MaxUserIDLen]
//     bytes), unknown_step, future_event, late_event, user_cap (a new
//     attempt when [WithMaxUsers] users are tracked), segment_overflow (a
//     value over [WithSegmentValueLimit], folded into [OtherValue]),
//     invalid_segment (invalid UTF-8, a value over [MaxSegmentValueLen]
//     bytes or a value beyond the declared dimensions, folded into
//     [OtherValue]).
//
// State is per process: with several replicas, each reports the users it
// saw. Counters of replicas that see disjoint users (sticky by user id) can
// be summed; ratios are then recomputed from the sums.
//
// # Configuration
//
// Constructors take the required name (and steps) and trailing options.
// With no options a recorder uses the global MeterProvider at construction
// ([WithMeterProvider] to choose), a 14-day window, sequential order, no
// segments, at most [DefaultMaxUsers] tracked users and
// [DefaultSegmentValueLimit] values per dimension. A bad argument or option
// is an error wrapping [ErrInvalidConfig] that names the bad value.
//
// Segment values are given positionally, in the order of [WithSegments].
// A missing or empty value reports as [UnknownValue]; a value that is not
// valid UTF-8 or is longer than [MaxSegmentValueLen] bytes, values beyond
// the declared dimensions, and new values once a dimension holds
// [WithSegmentValueLimit] values report as [OtherValue]. Folding keeps the
// user in the counts; each fold is counted on kpikit.dropped. The number of
// series per metric is at most the product of (limit + 2) over the
// dimensions, times the steps.
//
// Per-user state is bounded by [WithMaxUsers]. An attempt is reclaimed one
// window after it expired (so that late events within the window are still
// placed exactly); when the cap is reached, expired attempts are reclaimed
// first and, if none is left, new attempts are dropped with reason
// user_cap. Users already tracked are never affected by the cap.
//
// # Performance
//
// Recording for a user already tracked takes one hash of the user id, one
// shard lock (64 shards), one map lookup and at most an atomic add: about
// 100 ns and no allocation. An event that completes a funnel also records
// the time-to-convert histogram through the SDK, with a prebuilt attribute
// set. Segment values are passed as variadic strings that do not escape;
// they are resolved only when an event starts an attempt, by lock-free
// lookups in copy-on-write tables. Starting an attempt allocates the copy
// of the user id and the attempt (about 100 bytes of heap per tracked
// user, measured with one million users). Collection reads atomic counters
// and reports them with attribute sets prebuilt per segment combination:
// about 0.5 ms for 5 steps and 20 segment values through the SDK.
//
// # Concurrency
//
// [Funnel] and [Goal] are safe for concurrent use. Recording never blocks
// on collection for long: collection takes a read lock on the table of
// segment combinations only. No goroutine is started. The methods of a nil
// *Funnel or *Goal do nothing, which is the no-op path; [Funnel.Close] and
// [Goal.Close] stop reporting and turn recording into a no-op. Nothing
// panics on bad input.
package customer
