// Package customer records customer KPIs as OpenTelemetry metrics:
// conversion funnels ([Funnel]), goal conversion ([Goal]), and active
// users, cohort retention and revenue ([Activity]). It depends on the
// OpenTelemetry metric API only; any MeterProvider receives the metrics.
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
// lasts the conversion window ([WithWindow], default 14 days) measured
// from that event's time, its start: it holds the events timed from the
// start to just before start + window. Within an attempt each step counts
// once, whatever the repeats; once the window has expired the user's next
// starting event starts a new attempt, which counts again. Steps are
// counted by the [Order]: [Sequential] (default) counts a step once every
// earlier step was reached, other events in between being ignored; [Any]
// counts every step the first time it is reached; [Strict] ends the
// attempt at any step that is not the next one or a repeat of the current
// one.
//
// The segment values of an attempt are those given with the event that
// started it (first touch); values given with later events are ignored. A
// goal is a two-step sequential funnel, exposure then conversion, that also
// counts every event: repeated exposures and conversions that belong to
// the attempt count as its events, with its segment values; a conversion
// that belongs to no attempt (no exposure recorded before it, or one a
// window or more before it) is not counted.
//
// Events carry their time ([Funnel.StepAt], [Goal.ExposeAt],
// [Goal.ConvertAt]; the forms without it use the clock). A user has at
// most one attempt at a time, and events are applied in the order they
// arrive, each by these rules:
//   - An event more than [FutureTolerance] ahead of the clock is dropped
//     (future_event); an event before 1970, or more than a window behind
//     the watermark, is dropped (late_event). No other rule refuses an
//     event for its time.
//   - The watermark is the latest time, each capped at the clock's reading
//     when it was recorded, of the events that passed the checks on the
//     user id, the step and the time: it never passes the clock, while an
//     attempt may start up to [FutureTolerance] ahead of it. It moves in
//     steps of a 1024th of the window, at most a second, so it may trail
//     that latest time by up to one step: an event up to one step more
//     than a window behind it may still be accepted.
//   - An event earlier than its attempt's start counts as if at the start,
//     however much earlier. (A window or more earlier is possible when the
//     attempt started ahead of the clock, and by up to one step of the
//     watermark otherwise.)
//   - The window is measured from the attempt's start, as PostHog and
//     Amplitude measure it from the first step: an event whose time (the
//     start, for one counted at the start) is less than a window after the
//     start belongs to the attempt. From a window after the start on, the
//     attempt has expired: an event that can start an attempt starts a new
//     one, at its own time and with its own segment values, and any other
//     event is ignored, neither counted nor dropped.
//   - The time to convert is the time of the event that reached the last
//     step (the start, when it counted at the start) minus the start.
//
// # Funnels by entry period
//
// The attempt counters above count attempts as they happen: what a
// real-time conversion rate or an alert needs. A product-analytics tool
// counts differently, and a funnel given [WithPeriod] also reports its
// figure, customer.funnel.period.users: for each period (day, ISO week
// or month, in the location of [WithLocation]; the latest [WithHorizon]
// periods, 12 by default), the users who entered the funnel in it, each
// counted once, at the furthest step reached. These are the figures that
// match PostHog's funnel (and its conversion-over-time trend by entry
// period) and ClickHouse's windowFunnel over the same events; the
// attempt counters do not match them, and are not meant to.
//
//   - Users, not attempts. PostHog, aggregating by unique users, counts
//     each user once, at the furthest step they reached; two attempts in
//     one week count twice in customer.funnel.users and once here.
//   - Sliding window. The window may start at any of the user's
//     first-step events in the period, as windowFunnel searches a sliding
//     window for the longest chain from any first condition: visit, visit 9 minutes
//     later, search 12 minutes after the first visit, with a 10-minute
//     window, is a conversion to search here (the second visit starts a
//     window that holds the search) and not for the attempts (whose window
//     started at the first visit). A window holds the events at most the
//     window after its start, the edge included, as both tools compare
//     (an attempt's window excludes its edge). The chain rules are
//     PostHog's funnel: for each step, the latest chain start that reached
//     it is kept, and an event of step k carries the latest chain that
//     reached step k-1 to step k when it is within that chain's window.
//   - Orders. [Sequential]: other events may come between two steps
//     (PostHog "sequential", windowFunnel's default). [Strict]: any other
//     event of the funnel (its steps and exclusion events; a repeat of
//     the step just reached aside) breaks the chains, as PostHog's
//     "strict" order clears them (PostHog also counts events that are not
//     in the funnel; a funnel sees only its own). [Any]: the level is the
//     most distinct steps among the user's events within the window of one
//     of their events in the period, as PostHog's "any order" funnel
//     counts users who completed 1, 2, … of the steps in any order.
//   - Exclusion steps ([WithExclusion]; ordered funnels). PostHog's
//     specification: users who perform the excluded event between the two
//     steps are "fully removed from consideration on the entire funnel".
//     Here, as in PostHog's
//     funnel: the chain that reached the from step, and not yet the to
//     step, within its window, is marked; it reaches no further step, and
//     when the furthest chain is marked the user counts at no step of the
//     period, until a clean chain reaches that step again. Counts by entry
//     period may therefore go down: the metric is a gauge.
//   - Entry period. A user enters in the period of a first-step event (in
//     [Any] order, of any of their events); the segment values are those
//     of the first such event in the period. A period's figures keep
//     changing as late steps of its windows arrive, into the next periods,
//     until no accepted event can change them (a window plus the late
//     tolerance after the period's end); a user who converted in a period
//     is final there.
//   - Time order. The rules run over each user's events in the order they
//     arrive: with events in time order per user (as one service, or a
//     replay sorted by time, gives them) the figures are exactly PostHog's;
//     an event later than a chain start, arriving after it, never moves it
//     back, and events of equal times are taken in arrival order (PostHog
//     sorts equal times by step).
//
// The funnel-ecommerce dataset (90,400 users, one visit date each, four
// steps) gives its published counts per step exactly as sums over entry
// weeks, and a reference computation of PostHog's rules with plain maps
// gives the same figures as the recorder on random streams, in every order
// and with exclusions, across restarts from snapshots.
//
// The figures by entry period are kept in memory (and in the snapshot of
// [WithSnapshot]) or, with [WithState], in Redis, where the script that
// applies a shard's events applies the same rules to each user's entries
// (a key beside the user's attempt) and counts users by entry period in
// the shard's counts hash, so that every replica reports the global
// figures; the same reference test runs against a Redis server, three
// replicas on one server and a three-master cluster. In memory, a
// replica's figures are its own users' (sum them only when users are
// routed to replicas by id). Redis measures event times in microseconds,
// as it does for attempts; counts of entry periods a horizon older than
// the latest are deleted as a new period begins.
// An entry in a period older than the horizon is not kept and is counted
// on kpikit.dropped with reason beyond_horizon; its events still count in
// the attempts.
//
// # Activity: active users, retention, revenue
//
//	app, err := customer.NewActivity("shop",
//		customer.WithPeriod(customer.Month), // cohorts and figures by month
//		customer.WithHorizon(12),            // keep 12 months
//		customer.WithCurrencies("USD", "EUR"))
//	app.Active(ctx, userID, signupTime)                         // now
//	app.PurchaseAt(ctx, orderTime, userID, signupTime, "USD", 1999) // 19.99 USD
//	app.RefundAt(ctx, refundTime, userID, signupTime, "USD", 500)
//
// An [Activity] counts distinct users in distinct-count sets of at most
// 16 KiB (exact up to 1,536 users, then 23-bit fingerprints with 0.024%
// standard error up to about 7,000 users, then a HyperLogLog sketch of
// precision 14, 0.81% standard error) keyed by period: the users active in each period, the
// members of each cohort, the users of each cohort active in each period
// (one set per cohort and offset), the paying users of each period and
// currency, and one set per day for the rolling windows. Every figure is
// one set or a union of sets; an intersection is never estimated by
// inclusion–exclusion.
//
// The period is a calendar day, an ISO 8601 week or a calendar month
// ([WithPeriod], default week) in the location of [WithLocation] (default
// UTC). A user's cohort is the period of the signup time given with each
// call; when the zero time.Time is given, it is the period of the first
// event of the user the recorder saw (first-seen), held per user in
// memory up to [WithMaxUsers] users. First-seen needs each user's events
// to arrive in time order: an event before the user's cohort is dropped
// (reason before_cohort), so replay history in time order or give signup
// times.
//
// The recorder keeps the latest [WithHorizon] periods (default 12): their
// per-period figures, the cohorts of those periods, and per cohort the
// offsets 0 (the cohort's own period) up to the latest period. The latest
// period is the newest one with an event (events up to [FutureTolerance]
// ahead of the clock are accepted). An event in an older period is
// dropped with reason late_event. A user whose cohort has left the horizon
// still counts in the per-period figures but in no cohort.
//
// Definitions, as in the product-analytics tools:
//   - active user: a user with an activity or a purchase in the period; a
//     refund is not activity.
//   - retention, mode on: users of cohort c active in period c+k, divided
//     by the cohort size; mode on_or_after: users of c active in c+k or
//     any later period (the union of the cells k, k+1, …), divided by the
//     size. Ratios are capped at 1 (estimates of a part and of the whole
//     can disagree slightly once dense).
//   - cohort size: distinct users with an event attributed to the cohort.
//   - revenue: purchases minus refunds in the period, per currency,
//     accumulated exactly as int64 amounts in the currency's scale (minor
//     unit by default, finer with [WithScale]) and reported as float64
//     major units. A purchase of zero counts as a purchase. The currencies
//     are those of [WithCurrencies]; without it, every ISO 4217 currency
//     at its minor unit (cents of USD, yen, thousandths of KWD), each
//     reported from its first purchase or refund on, at most
//     [MaxCurrencies] of them. A currency is reported in every period with
//     activity, at 0 where it has no purchase.
//   - paying users: distinct users with a purchase in the period and
//     currency. ARPU: revenue / active users of the period; ARPPU:
//     revenue / paying users.
//   - cohort revenue and purchases: those of the cohort's users in the
//     period at each offset; LTV at offset k: the cohort's cumulative
//     revenue over offsets 0 to k divided by the cohort size.
//   - DAU, WAU, MAU: distinct users active on the last 1, 7 and 30 days
//     (unions of daily sets), where the last day is today by the clock, or
//     the latest day with an event when later. Stickiness: DAU / MAU.
//
// Values per period are reported with the period's label as an attribute
// (period="2009-01", cohort="2009-W02", cohort.offset=3), bounded by the
// horizon: a period's figures keep changing while late events arrive and
// stay readable as one series per period, and a backend never has to
// reconstruct calendar periods from a stream of increments. The rolling
// windows (DAU, WAU, MAU, stickiness) have no period label: their current
// value is the figure, and their history is the time series itself. Each
// metric of an Activity has at most horizon × (horizon+1) series per mode
// and currency; with a long horizon raise the SDK's cardinality limit
// (2000 series per instrument by default; sdkmetric.WithCardinalityLimit).
//
// # Lifecycle and stickiness
//
// With [WithLifecycle] an activity also keeps, for each user under the
// cap of [WithMaxUsers], a record of the periods and the days the user
// was active, and reports two distributions as the product-analytics
// tools draw them.
//
// The lifecycle follows PostHog's lifecycle insight. In each period q of
// the horizon every user active in q has one status, and the users who
// left have another:
//   - new: active in q, and q is the user's cohort (in PostHog, the
//     person was created in the period);
//   - returning: active in q and in q-1, cohort earlier;
//   - resurrecting: active in q but not in q-1, cohort earlier (PostHog:
//     inactive in the previous period, active at some point before it;
//     here the cohort stands for that point);
//   - dormant: active in q-1 but not in q, reported as a negative count,
//     as PostHog draws these users below the axis.
//
// The cohort is the user's cohort of retention, fixed by the user's first
// event that the record holds: the period of the signup time given with
// it or, without one, the first-seen cohort. new + returning +
// resurrecting are the tracked users active in q, and returning − dormant
// those active in q-1. A period reports the four statuses, zeros
// included, once it has any of them; dormant is not reported for the
// oldest period of the horizon, whose previous period is not kept.
//
// The counts are exact whatever the order in which events arrive: an
// activity in a period before the user's latest one is classified there,
// and the status of the next period, the only other one it changes, is
// decided again (a user active in q+1 who was resurrecting there becomes
// returning). A record holds the user's latest 64 periods: an activity
// 63 periods or more before the user's latest active period (possible
// only with a horizon over 63) cannot be classified, and neither can one
// in a period before the cohort of the record (a user whose events give
// different signup times, or a signup time after having none). Such an
// activity counts in every other figure and is counted on kpikit.dropped
// with reason lifecycle_late.
//
// Stickiness, as PostHog's and Amplitude's stickiness charts show it,
// counts users by the number of days they were active in a range: here
// the rolling windows of the last 7 and 30 days, which end where DAU, WAU
// and MAU end. customer.active.days with active.days = N is the number of
// tracked users active on exactly N days of the window, for N = 1 to 7
// and 1 to 30, zeros included, once any day was recorded. A refund is not
// activity, for either distribution.
//
// With WithLifecycle the user cap counts every user the activity holds,
// with or without a signup time (the record holds the first-seen cohort:
// one lock and one lookup serve both), and so does
// customer.activity.tracked_users. A user over the cap is not tracked: its
// events count in every other figure, and each is counted once on
// kpikit.dropped with reason user_cap. [WithSnapshot] keeps the records and
// the counters: a snapshot written without WithLifecycle loads with no
// lifecycle state, and one written with it loads into an activity without
// it, which skips them. The records are not kept in a shared state:
// WithLifecycle with [WithState] is an error.
//
// A record is 24 bytes in a hash table of its shard (open addressing,
// 54% to 81% full): 36 to 59 bytes per user measured from 10,000 to
// 1,000,000 users with signup times (47 at 100,000, 48 at 1,000,000),
// where an activity without it holds nothing per user; for users without
// a signup time it takes the place of the first-seen entry (38 bytes), 10
// to 25 bytes more. See "Performance" for the cost of recording and
// collecting.
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
//     while the tracked users are within the cap. funnel.step.index is the
//     step's position in the funnel, counting from 1.
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
//   - customer.funnel.period.users (gauge, {user}; funnel, funnel.step,
//     funnel.step.index, period, segments; with [WithPeriod]): users who
//     entered the funnel in the period and reached the step, each counted
//     once at the furthest step (see "Funnels by entry period"). Exact
//     while the tracked users are within the cap.
//   - customer.funnel.period.conversion (gauge, 1; the attributes of
//     customer.funnel.period.users and funnel.basis="first"): users of
//     the step divided by users of the first step, per entry period; for
//     the second step on, when the divisor is not zero.
//   - customer.funnel.impaired_users (counter, {user}; funnel,
//     funnel.step, funnel.step.index, error.type, segments): attempts
//     impaired at the step by a failed request, once per attempt and step,
//     with the error type of the first failure (see "Cost of failures").
//   - customer.funnel.impaired_step_users (counter, {user}; the attributes
//     of customer.funnel.users): impaired attempts that reached the step.
//   - customer.funnel.lost_users (gauge, {user}; funnel, segments):
//     estimated attempts that failures kept from converting.
//   - customer.revenue.at_risk (gauge, {currency}: major units of the
//     currency attribute; funnel, currency): lost users times the ARPPU of
//     the current period of the activity of [WithRevenueFrom].
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
//   - customer.active.users (gauge, {user}; activity, active.window="1d",
//     "7d" or "30d"): DAU, WAU and MAU.
//   - customer.active.stickiness (gauge, 1; activity): DAU / MAU.
//   - customer.active.period_users (gauge, {user}; activity, period):
//     distinct users active in the period.
//   - customer.retention.cohort_size (gauge, {user}; activity, cohort).
//   - customer.retention.users (gauge, {user}; activity, cohort,
//     cohort.offset, retention.mode="on" or "on_or_after").
//   - customer.retention.ratio (gauge, 1; activity, cohort, cohort.offset,
//     retention.mode): retention users / cohort size.
//   - customer.revenue.amount (gauge, {currency}: major units of the
//     currency attribute; activity, period, currency): revenue net of
//     refunds.
//   - customer.revenue.purchases (gauge, {purchase}; activity, period,
//     currency) and customer.revenue.refunds (gauge, {refund}; same).
//   - customer.revenue.paying_users (gauge, {user}; activity, period,
//     currency).
//   - customer.revenue.arpu and customer.revenue.arppu (gauge, {currency};
//     activity, period, currency): reported when the divisor is not zero.
//   - customer.cohort.revenue (gauge, {currency}), customer.cohort.purchases
//     (gauge, {purchase}) and customer.cohort.ltv (gauge, {currency}), each
//     with activity, cohort, cohort.offset, currency.
//   - customer.activity.tracked_users (up-down counter, {user}; activity):
//     users whose first-seen cohort is held; with [WithLifecycle], every
//     user held.
//   - customer.active.lifecycle (gauge, {user}; activity, period,
//     lifecycle.status="new", "returning", "resurrecting" or "dormant"):
//     with [WithLifecycle], the users of each status in the period;
//     dormant as a negative count (see "Lifecycle and stickiness").
//   - customer.active.days (gauge, {user}; activity, active.window="7d" or
//     "30d", active.days=1 to 7 or 30): with [WithLifecycle], the users
//     active on exactly active.days days of the window.
//   - kpikit.dropped (counter, {event}; kpikit.component="customer.funnel",
//     "customer.goal" or "customer.activity", reason): events dropped or
//     segment values folded. Reasons: empty_user_id, long_user_id (over [MaxUserIDLen]
//     bytes), unknown_step, future_event, late_event, user_cap (a new
//     attempt when [WithMaxUsers] users are tracked), segment_overflow (a
//     value over [WithSegmentValueLimit], folded into [OtherValue]),
//     invalid_segment (invalid UTF-8 or a value over [MaxSegmentValueLen]
//     bytes, folded into [OtherValue]; values beyond the declared
//     dimensions, discarded). The activity adds before_cohort (an event in a period
//     before the user's cohort), unknown_currency (not declared with
//     [WithCurrencies], or without it not an ISO 4217 code),
//     currency_limit (without WithCurrencies, a currency beyond the first
//     [MaxCurrencies] the recorder took), invalid_amount (negative), amount_overflow (an
//     int64 total would overflow; the totals stay unchanged),
//     user_cap (a new user without signup time over [WithMaxUsers]: the
//     event counts in its period but in no cohort; with [WithLifecycle],
//     any new user over it, which is not tracked) and lifecycle_late (with
//     WithLifecycle: an activity 63 periods or more before its user's
//     latest active one, or before the cohort of its record, counted
//     everywhere but in the lifecycle). Every recorder counts
//     closed (an event recorded after Close) and, with Redis,
//     store_unavailable; and link_limit (a call made under a request that
//     already holds its links: the user is not linked to it). A funnel in
//     memory adds error_type_limit (an error type beyond the first
//     [MaxErrorTypes], folded into [OtherValue]) and invalid_error_type
//     (an empty error type, invalid UTF-8 or one over [MaxErrorTypeLen]
//     bytes, folded into OtherValue). A funnel with [WithPeriod] adds
//     beyond_horizon (an entry in a period older than the horizon: not
//     kept for the figures by entry period, counted in the attempts). A funnel or goal event with several faults counts once, for
//     the first check it fails, in this order: the user id, the step, the
//     time. A recorder reports each reason it
//     can count at 0 from its construction, and only those: user_cap of a
//     funnel or goal only without Redis,
//     store_unavailable only with it, segment_overflow only with
//     segments, unknown_step only for a funnel, currency_limit only
//     without WithCurrencies, lifecycle_late only with WithLifecycle;
//     link_limit, error_type_limit and
//     invalid_error_type only from the recorder's first call made under
//     a request (see "Cost of failures").
//
// # Goal SLOs
//
// A goal's conversion can be a service-level objective: declare an
// [slo.SLO] whose SLI is [slo.GoalConversion] with the goal's name and give
// it with [WithSLOs] ("80% of carts are paid within the hour"):
//
//	paid, err := customer.NewGoal("cart_paid", customer.WithWindow(time.Hour),
//		customer.WithSLOs(slo.SLO{
//			Name:      "cart-paid",
//			Objective: 0.8,
//			SLI:       slo.GoalConversion{Goal: "cart_paid"},
//		}))
//
// Each attempt is an event and each converted attempt a good one: the
// counts of customer.goal.exposed_users and customer.goal.converted_users
// summed over the segments. Per SLO (attribute slo.name) the goal reports
// the metrics named by package slo's Metric* constants: slo.objective,
// slo.events and slo.good_events (counters), slo.error_ratio and
// slo.burn_rate (per slo.window, 5m to 3d and the SLO's window; only for a
// window with events), slo.error_budget.remaining and slo.alert (per
// slo.alert.severity, page or ticket); [Goal.SLOStatus] returns the same
// figures. The windows take the counts as each collection reads them, so
// they are as fine as the export interval, and start with the goal: the
// counts of a restored snapshot, or those in Redis before the goal's first
// reading, are in slo.events but in no window. With Redis the counts are
// the global ones, so every replica reports the fleet's SLO: take the
// max of slo.events across replicas, never the sum (the ratios of the
// generated rules, which sum the series, are the same either way; only
// their event counts are multiplied by the replicas). After Close the SLO metrics keep their last values, as
// the other metrics do.
//
// # Cost of failures
//
// A failed request (a 5xx, a panic, or one slower than its latency SLO:
// package operational decides) is not only an error rate: it is funnel
// attempts impaired, conversions lost and revenue at risk, computed in
// process, the user id never an attribute. A recording call made with the
// context of a request that package operational watches ([Funnel.Step],
// [Goal.Expose], [Goal.Convert], their At forms, and every recording
// method of [Activity]) links its user to the request once the event is
// accepted (a dropped event links nothing); the request holds the user id
// until it ends. A request holds 8 links: the user of a further call is
// not linked to it, which is counted on kpikit.dropped with reason
// link_limit. Without a
// request in the context a call costs one context lookup; with one, about
// 25 ns more and no allocation.
//
// When the request fails, a funnel held in memory marks the user's
// attempt impaired at the linked step: once per attempt and step, however
// many requests fail there (concurrent ones, or an operation failing
// inside a failing request) and whenever the failure is reported, also
// after the call returned. The attempt is the one the user holds then;
// none is impaired for a user without one, for one that strict order
// ended, or for one expired by the watermark. A goal's or an activity's
// link only lets the request count its distinct users. Per segment row a
// funnel counts:
//   - customer.funnel.impaired_users: attempts impaired at the step, by
//     error.type, the error type of the first failure at that step. At
//     most [MaxErrorTypes] error types per funnel; later ones fold into
//     [OtherValue] (error_type_limit), and so do empty ones, invalid UTF-8
//     and ones over [MaxErrorTypeLen] bytes (invalid_error_type).
//   - customer.funnel.impaired_step_users: impaired attempts that reached
//     the step. The first time an attempt is impaired it counts at every
//     step it has reached, and then at every step it reaches, so
//     customer.funnel.users minus this counter, step by step and with the
//     same attributes, is the attempts that reached the step and were
//     never impaired (clean ones).
//
// At each collection, with U and I the attempts and the impaired ones that
// reached the first and the last step of a segment row:
//
//	impaired conversion = I_last / I_first
//	clean conversion    = (U_last − I_last) / (U_first − I_first)
//	lost_users          = I_first × (clean conversion − impaired conversion)
//	revenue.at_risk     = lost_users summed over the rows × ARPPU
//
// lost_users is 0 without an impaired attempt, is clamped at 0 when the
// impaired attempts converted at least as well as the clean ones, and is
// not reported for a row whose attempts at the first step are all
// impaired (there is nothing to compare with). Conversion is the funnel's
// own, first step to last (customer.funnel.conversion with
// funnel.basis="first"); in [Any] order the users of the last step need
// not have reached the first. ARPPU is the current period's, per
// currency with paying users, of the activity given with
// [WithRevenueFrom] (as its customer.revenue.arppu reports it: revenue
// net of refunds over paying users): the period of the activity's clock,
// or the newest period with an event when later, and for a currency
// without paying users in it yet the newest kept period's that has some;
// with the activity in
// Redis, what its latest collection read. revenue.at_risk is reported for
// each currency with paying users in that period, 0 when nothing is lost.
//
// The estimate assumes that the impaired attempts would have converted as
// the clean ones did. It is wrong when failures hit users who would not
// have converted anyway (an endpoint that only abandoning users or bots
// reach, a segment that converts less: compare within segments), and when
// attempts are selected into the impaired group by having reached later
// steps: a failure at a late step only impairs attempts that got there,
// which convert better than those that stopped earlier, so the impaired
// conversion is flattered and the loss underestimated (failures at the
// first step do not select). Read lost_users and revenue.at_risk as
// orders of magnitude, and customer.funnel.impaired_users by step.
//
// A recorder reports these metrics, and the reasons link_limit,
// error_type_limit and invalid_error_type, from its first call made under
// a request (or from the restore of a snapshot that holds them): one not
// wired to requests reports none of them rather than zeros that would say
// that nothing failed. [WithSnapshot] keeps the impaired attempts and the
// counts across restarts. A funnel with [WithState] hands each failure to
// the shared state in order with its steps (the failure time is the
// replica's watermark): the state marks the user's attempt impaired there,
// once per attempt and step with the first failure's error type, and
// counts impaired attempts per step, error type and segment row, globally;
// error types travel by name, so replicas that learned them in different
// orders agree. Every replica then reports the same impaired_users,
// impaired_step_users and lost_users (computed from the global counts)
// and, with [WithRevenueFrom], at_risk from its activity's ARPPU. Across
// replicas in memory, sum the counters and recompute the estimates from
// the sums.
// An attempt that no failure touched takes no more memory; an impaired
// one takes an entry of its shard's map of impaired steps.
//
// # State
//
// By default all state is in memory and per process. Two options keep it
// elsewhere; neither changes the definitions above.
//
// [WithSnapshot] (activities, funnels and goals) keeps the state in memory
// and writes it to a file, atomically (temporary file, fsync, rename),
// every interval and on [Activity.Close] / [Activity.Shutdown] (likewise
// for funnels and goals); the constructor loads it, so a restart loses at
// most one interval. A corrupt or truncated file, one of another format
// version, and one written by a recorder with another name, period,
// horizon, currencies, steps, order, window or segments is renamed aside
// (NAME.corrupt-<unix seconds> or NAME.incompatible-<unix seconds>), the
// reason goes to the OTel error handler, and the recorder starts empty: a
// bad file never fails or crashes the start. The recording path is the
// memory one.
//
// [WithState] with a store of package customer/redisstate
// (redisstate.New on any redis.UniversalClient: one server, a Redis
// Cluster or Sentinel) keeps the state in Redis, shared by the replicas
// that use the same key prefix and recorder name. Package customer itself
// links no Redis client: the recorders know only the boundary that
// redisstate implements. For an activity it keeps the distinct-user sets,
// first-seen cohorts and money totals:
//   - every key of an activity is PREFIX + "{a:" + NAME + "}:" + what it
//     holds (day:<date>, cohort:<period>:<offset>:users,
//     paying:<period>:<currency>, revenue|purchases|refunds:<period>:<currency>,
//     cohort:<period>:<offset>:revenue|purchases:<currency>,
//     first:<user hash>, currency:<code>, applied:<instance>). The braces
//     are a Redis Cluster hash tag: all the keys of one activity live in
//     one slot, so every multi-key command (PFCOUNT unions, MGET, the money
//     script) runs on one node, and an activity's load is on that node.
//     On a cluster every figure is as global as on one server. A key
//     prefix with a brace is an error at construction;
//   - distinct users are Redis HyperLogLogs (PFADD of a fixed-size hash of
//     the user id, never the id): one per day, per cohort and offset, and
//     per period and currency for paying users; a period's active users are
//     the union of its days and a cohort's members the union of its cells.
//     Each has a companion (the key plus ":s", 16 KiB) that holds the
//     fingerprints of its users as the sparse tier of a set in memory does,
//     so that a figure of up to about 7,000 users is as exact as in memory
//     (0.024%) where PFCOUNT is off by 0.5 to 0.8%; PFCOUNT counts a figure
//     once a companion is full, or the union of them does not fit (see the
//     package documentation of redisstate);
//   - money, purchases and refunds are counters per period and currency
//     and per cohort, offset and currency; amounts stay exact. Money is
//     never dropped for want of Redis: it is summed locally (constant
//     memory per period, cell and currency) and leaves the local sums only
//     when Redis acknowledged it. The activity's goroutine writes it every
//     200 ms with one Lua script that applies each hand-over exactly once
//     (a guard key per recorder instance keeps the last sequence applied,
//     so a hand-over whose reply was lost and that is sent again counts
//     once, for outages under seven days), and retries with backoff while
//     Redis is down. The script refuses an increment that would overflow a
//     counter (nothing wraps): the events of that hand-over's period (or
//     cell) and currency are counted as amount_overflow and not retried.
//     Without [WithCurrencies] one more key per currency taken tells every
//     replica which currencies to report, read with one MGET per
//     collection;
//   - a user's first-seen period is global: one key per user (under the
//     fixed-size hash), written with SET NX GET, which also reads back
//     the period some replica wrote first. The events of a user recorded
//     without a signup time and not yet known to the replica wait in a
//     queue of at most 65,536 events per activity (beyond it events are
//     dropped as store_unavailable) until the background goroutine
//     resolves their cohort, every 200 ms or at [Activity.Flush], in one
//     pipelined round trip; they are then recorded with the global cohort
//     (cells, cohort money, before_cohort), and the replica keeps the
//     cohort so that the user's later events are recorded directly. A
//     refund of a user not known to the replica reads the cohort and
//     creates none. The first write to reach Redis decides the cohort: a
//     user whose events reach several replicas gets the period of the
//     first event anywhere when each replica has flushed before the next
//     event of that user is recorded elsewhere;
//   - every key expires a period plus the horizon (plus 31 days) after its
//     last write.
//
// For a funnel or goal, [WithState] with a store of customer/redisstate
// keeps the progress of every user and the counts in Redis, shared by the
// replicas that use the same key prefix, kind and name. The state is split
// by a hash of the user id into 16 shards, and every key of a shard
// carries the shard's hash tag, so that it works on one server and on a
// Redis Cluster (a store on a *redis.ClusterClient), where the shards
// spread over the masters:
//
//	PREFIX{f:NAME:SHARD}:u:MEMBER  one user's attempt
//	PREFIX{f:NAME:SHARD}:counts    the shard's counters
//	PREFIX{f:NAME:SHARD}:seq:ID    the last batch of one recorder applied
//
// ("g:" for a goal; SHARD is 0 to 15, MEMBER a fixed-size hash of the user
// id, never the id). A prefix or name holding "{" or "}" changes the hash
// tag: every shard then lands on one slot, which stays correct on a
// cluster but uses one master. Everything is global, on one server as on
// a cluster: a user's attempt, the users per step and the event counts.
//   - each user's attempt is one string (start, steps reached, strict
//     break, segment row), expiring twice the window after the attempt
//     started;
//   - one Lua script per shard (EVALSHA, loaded again when Redis lost it),
//     every call of a flush in one pipeline, applies a batch of events
//     with the rules of the memory state: the order, the window from the
//     attempt's start, an event before the start counted at the start, a
//     new attempt after the window, repeats counted once, strict order
//     breaking the attempt. The order's rules are a table the recorder
//     computes from the memory state's rules and hands to the script, so
//     that they are written once. A step newly reached, and for goals every
//     counted event, increments a field of the shard's counts hash (per
//     step and segment row; summed per call, so a call's effect is one
//     HINCRBY per field); collection sums the 16 hashes, read in one
//     pipeline. Each recorder numbers its batches and the script skips, per
//     shard, a batch it already applied, so a retried batch counts once
//     (for outages under seven days);
//   - a user's events are applied in the order they reach Redis. Each
//     replica sends its events in order; events of one user recorded on
//     several replicas are applied in time order only when each replica
//     has flushed before the next event of that user is recorded elsewhere
//     (every 100 ms, or [Funnel.Flush]); otherwise they are applied in
//     arrival order, as the memory state applies events that arrive out of
//     order. Times are compared in microseconds;
//   - the late_event check uses the replica's own watermark, the user cap
//     ([WithMaxUsers]) does not apply, segment values are resolved (and
//     folds counted) for every event that may start an attempt, and
//     customer.funnel.tracked_users and customer.goal.tracked_users are
//     not reported. A failed read is the callback's error and reports
//     none of the Redis figures;
//   - the time to convert is recorded by the replica whose batch completed
//     the attempt, with the elapsed time the script reports: a per-replica
//     histogram. An attempt completed by a batch whose reply was lost and
//     that was then skipped as already applied is counted but not recorded
//     in the histogram.
//
// Recording never waits for Redis. Distinct-user writes go to a bounded
// buffer (redisstate.WithBufferSize) that one goroutine writes in pipelined
// batches every 200 ms. For each HyperLogLog key it has written, the
// recorder keeps a copy of the registers its writes set (16 KiB per key,
// computed as Redis computes them, checked against redis-server): an
// event whose PFADD would change nothing in Redis (a user written before,
// or any user whose register already holds as much, which is almost every
// event of a busy key) adds nothing to the buffer. Likewise it keeps the
// fingerprints it sent to each key's companion (a sparse set of 16 KiB,
// until the companion is full), and an event sends only its user's
// fingerprint that is new there. The copies are reset at each collection,
// and at [Activity.Flush] after the store dropped writes; the buffer
// de-duplicates what is left. The writes of one recording call (to up to
// three sets: the day, the cohort cell and, for a purchase, the paying
// set, each a PFADD and a fingerprint) are one buffer entry.
// While Redis is unreachable the buffer holds the entries and the flusher
// retries with backoff (errors go to the OTel error handler, the first
// within about 1.5 s of a server that stops answering); when the buffer
// is full the oldest entry is dropped whole. When Redis returns, nothing
// that fit in the buffer is lost.
//
// kpikit.dropped with reason store_unavailable counts recording calls
// (events), exactly: an event whose buffer entry was dropped (full buffer,
// or still buffered when a Shutdown's deadline passed), an event still
// waiting for its first-seen cohort at that deadline or beyond the queue,
// and each purchase or refund whose money Redis had not acknowledged when
// a Shutdown's deadline passed (a hand-over in flight then counts as not
// written, though Redis may have applied it). An event that needed no new
// write is not lost: what it would set was already handed over for those
// sets (the register copies) or the same write was already waiting in the
// buffer; if that earlier write is dropped, the event that buffered it is
// the one counted, so after an outage a set may lack a few more users than
// the events counted until the next collection resets the copies. An event whose money reached Redis but whose distinct-user
// entry was dropped counts once, for the entry. A user whose write was
// dropped is written again at their next event after the next
// collection. Collection reads Redis
// (PFCOUNT, unions, GET of the companions and MGET in two pipelined round
// trips, O(horizon²) commands) and so reports the same values on every replica, up to the
// writes not yet flushed ([Activity.Flush] writes them now). A failed read
// is the callback's error and reports none of the Redis figures. Every
// wait on Redis has a deadline: a round trip (a batch of writes, a
// collection's reads, the resolution of first-seen cohorts) ends within 5
// seconds or the caller's earlier deadline, also when the server accepts
// connections and never answers, and Flush, Close and Shutdown return by
// their deadline. Redis
// itself must persist (AOF or RDB) for the distinct-user sets to survive
// a Redis restart; money recorded before a restart that Redis had
// acknowledged is lost with an empty restart, money not yet acknowledged
// is written after it. An amount that would overflow the money a replica
// has not handed to Redis yet is dropped as amount_overflow, as in
// memory; one that would overflow the total in Redis is refused by the
// script and counted likewise (see above), and reported through the error
// handler. Funnels and goals buffer their events likewise (one
// fixed-size record per event, as many records as the store's
// redisstate.WithBufferSize, oldest dropped and counted as
// store_unavailable when full), send batches of up to 4,096 events every
// 100 ms, retry with backoff, and read the counter
// hash with one HGETALL per collection, which also yields the segment rows
// that only other replicas have seen.
//
// Which values are global and which per replica:
//
//	metric                               memory, snapshot   Redis
//	customer.active.users                per replica        global: max
//	customer.active.stickiness           per replica        global: max
//	customer.active.period_users         per replica        global: max
//	customer.retention.cohort_size       per replica        global: max
//	customer.retention.users             per replica        global: max
//	customer.retention.ratio             per replica        global: max
//	customer.revenue.amount              per replica: sum   global: max
//	customer.revenue.purchases           per replica: sum   global: max
//	customer.revenue.refunds             per replica: sum   global: max
//	customer.revenue.paying_users        per replica        global: max
//	customer.revenue.arpu, .arppu        per replica        global: max
//	customer.cohort.revenue, .purchases  per replica: sum   global: max
//	customer.cohort.ltv                  per replica        global: max
//	customer.activity.tracked_users      per replica: sum   per replica: sum
//	customer.active.lifecycle,
//	customer.active.days                 per replica        (not available)
//	customer.funnel.users, .conversion   per replica: sum   global: max
//	customer.funnel.period.users,
//	  .period.conversion                 per replica: sum   global: max
//	customer.goal.exposed_users,
//	  .converted_users, .exposures,
//	  .conversions, .conversion          per replica: sum   global: max
//	customer.funnel.time_to_convert,
//	customer.goal.time_to_convert        per replica: sum   per replica: sum
//	customer.funnel.tracked_users,
//	customer.goal.tracked_users          per replica: sum   (not reported)
//	customer.funnel.impaired_users,
//	  .impaired_step_users               per replica: sum   global: max
//	customer.funnel.lost_users,
//	customer.revenue.at_risk             per replica        global: max
//	kpikit.dropped (every reason)        per replica: sum   per replica: sum
//
// A global value is the same on every replica, so dashboards aggregate it
// away with max over the replica labels and never sum it:
//
//	max by (activity, period, currency) (customer_revenue_amount)
//	max by (activity, cohort, cohort_offset, retention_mode) (customer_retention_ratio)
//	max by (activity, active_window) (customer_active_users)
//	max by (funnel, funnel_step, funnel_step_index) (customer_funnel_users_total)
//
// Per-replica values are summed: sum by (reason) (kpikit_dropped_total).
// Without Redis, money and counts of purchases and refunds add up across
// replicas; distinct-user figures add up only when each user is served by
// one replica (sticky by user id), and ratios never do; the funnel and
// goal counters add up across replicas that see disjoint users, ratios
// being recomputed from the sums.
//
// # Configuration
//
// Constructors take the required name (and steps) and trailing options.
// With no options a recorder uses the global MeterProvider at construction
// ([WithMeterProvider] to choose), a 14-day window, sequential order, no
// segments, at most [DefaultMaxUsers] tracked users and
// [DefaultSegmentValueLimit] values per dimension. A bad argument or option
// is an error wrapping [ErrInvalidConfig] that names the bad value, and so
// is an option that could not do what it says: [WithState] given nil
// (the state would stay in memory, per replica), [WithMaxUsers] for a
// funnel or goal with [WithState] (no cap applies there) and
// [WithLifecycle] with WithState (the lifecycle is not kept in a shared
// state).
// redisstate.New names what it refuses: a nil client, a client that does
// not honour context deadlines, a key prefix with a brace, a buffer size
// out of range. A nil MeterProvider, clock or location is
// ignored: the default serves.
//
// Segment values are given positionally, in the order of [WithSegments].
// A missing or empty value reports as [UnknownValue]; a value that is not
// valid UTF-8 or is longer than [MaxSegmentValueLen] bytes, and new values
// once a dimension holds [WithSegmentValueLimit] values (UnknownValue and
// OtherValue do not take a place), report as [OtherValue]. Values beyond
// the declared dimensions are discarded; the declared ones are kept.
// Folding keeps the user in the counts. Folds are counted on kpikit.dropped when the values
// are resolved, which is when an event starts an attempt (with
// [WithState], for every event that can start one; values given with
// other events are ignored, unchecked): one invalid_segment or
// segment_overflow per value folded, and one invalid_segment per event
// that gives values beyond the declared dimensions, however many. The
// number of series per metric is at most the product of (limit + 2) over
// the dimensions, times the steps.
//
// [WithPeriod], [WithHorizon] and [WithLocation] apply to activities and
// to funnels (where they turn on, and shape, the figures by entry period;
// WithHorizon and WithLocation without WithPeriod are errors), not to
// goals. [WithExclusion] applies to funnels with WithPeriod in sequential
// or strict order; its event must not be a step, and its from step must
// come before its to step.
//
// Per-user state is bounded by [WithMaxUsers]. An attempt is reclaimed one
// window after it expired (so that late events within the window are still
// placed exactly); when the cap is reached, expired attempts are reclaimed
// first and, if none is left, new attempts are dropped with reason
// user_cap. Users already tracked are never affected by the cap.
//
// # Performance
//
// Activity: recording an event for a user already seen, with a signup
// time, hashes the user id once (XXH64) and inserts the hash into the
// period, cohort-cell and day sets (lock-free; dense sets mostly only
// read): about 60 ns, no allocation. Without a signup time add one shard
// lock and map lookup for the first-seen cohort (about 80 ns; about 100 ns
// for a purchase). The clock is read only when an event is later than
// the last reading plus [FutureTolerance]. Starting a period or a cohort
// cell allocates it once. Memory is 16.5 KB per dense set: a 12x12 weekly
// retention matrix with its periods and 30 daily sets, each dense, is 2.2
// MB; first-seen costs one map entry per user. Without [WithCurrencies]
// a period keeps room for [MaxCurrencies] currencies (2.5 KiB) and a
// cohort cell 256 bytes, whether they are used or not. Collection reads cached
// estimates, recomputing only those of sets that changed; a 12x12 matrix
// plus 30 days built from a million users a day collects in 0.3 ms when
// nothing changed, 0.5 ms when the current week changed and 2 ms when
// every set changed, through the SDK.
//
// With [WithLifecycle] an activity of a user already active that day
// takes one probe of the shard's table of records without a lock (the
// record's latest day and first-seen cohort are read atomically); any
// other event of a user already held takes the shard's lock (64 shards)
// and the same probe, which for a user without a signup time also gives
// the first-seen cohort. Measured on a shared 2-core virtual machine (go
// test -bench LifecycleActiveAt ./customer/, 16,384 users active that
// day, through the SDK, medians of 8, same run, no allocation): 54.6 ns
// without and 53.2 ns with it for users without a signup time (0.97x),
// 33.8 ns and 61.7 ns for users with one (1.82x): without the lifecycle
// nothing is held for them, and the probe is one read of the user's
// record, not in cache with this many users. An activity
// that makes a user active in a period adds two atomic adds to its
// counters, two more when it is late and changes the status of the next
// period. Collection adds a few loads per period and a scan of every
// record for the stickiness distribution, under each shard's lock in
// turn (BenchmarkLifecycleCollect): about 0.4 ms for 100,000 users and
// 3.5 to 7 ms for 1,000,000 (about 50 MB of records), against 0.05 and
// 0.15 ms without it.
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
// With [WithPeriod] an event also updates the user's entries by period (a
// few words each, in the same shard lock): in the same run
// (BenchmarkFunnelStepByPeriod, medians of 10), a repeated step 66 ns
// without and 79 ns with (1.20x), an advancing step 131 and 160 ns
// (1.22x), no allocation either way. The event's period is computed only
// for an event that may enter, and the latest period's counts are
// cached. An entry takes 3 words plus one per step (two per
// step in [Any] order) while its period can still change: with one
// million users on five steps, 96 bytes per user without (as before),
// 184 with, 232 in any order (BenchmarkFunnelMemory). Collecting
// 12 periods of 5 steps and 20 segment values (1,200 user points and 960
// conversion points) takes about 4.5 ms through the SDK with its default
// exemplar filter, of which the funnel's own callback is a fifth, and
// 2.2 ms with exemplars off (BenchmarkFunnelPeriodCollect). With
// [WithState] the script keeps each user's entries in a second key
// beside the attempt, read with it and written when an event changed
// them: through one local Redis
// (BenchmarkFunnelIngest, redis vs redis_by_period, same run) Redis
// spends about 11 µs of CPU per event instead of 3.2, and ingest falls
// from about 285,000 to 80,000 events/s; the entries key holds 19 bytes,
// the row id and 8 bytes per step (16 in any order) per entry.
//
// The state options: with [WithSnapshot] recording is the memory path
// (same cost); a snapshot encodes every set (16 KiB per dense set) and
// fsyncs the file, off the recording path. With [WithState] an activity
// event raises the register copies of its cohort-cell and day sets (and
// the paying set of a purchase) and looks its user up in the sets of
// fingerprints sent to their companions, until those are full, instead of
// inserting into local sets, and buffers only writes that would change
// Redis; money goes to local atomic counters. Measured on a shared 2-core
// AMD EPYC with redis-server on the same two cores (go test -bench
// ActivityState ./customer/, users already seen, no allocation in either,
// same run, medians of 6): with 16,384 users (full companions) an activity
// event 34.7 ns in memory and 46.2 ns with Redis (1.33x), a purchase
// 59.6 ns and 73.8 ns (1.24x), from two goroutines 17.3 ns and 23.3 ns;
// with 4,096 users (sets in the first sparse tier both in memory and in
// the companions) 42.5 ns and 57.0 ns (1.34x).
// Sustained ingest of activity events of a million distinct users through
// one local Redis from one process (BenchmarkActivityRedisIngest,
// -benchtime=1000000x): 3.4 to 4.4 million events/s, 0 allocations; about
// 6% of those events need a write, and Redis spends 0.008 µs of PFADD time
// and 0.06 µs of script time per event, the latter to fill the companions
// of the two keys (about 14,000 fingerprints, then plain PFADDs), which is
// also why the figure is below the 4.6 to 4.9 million events/s of
// HyperLogLogs alone.
//
// With [WithState] a funnel or goal event is validated as in memory, hashed
// (and its segment row resolved when it may start an attempt) and copied
// into the buffer under one mutex, without allocation. On the same
// machine (BenchmarkFunnelStepRedis, 4,096 users over 4 steps, one
// goroutine, the flusher sharing the two cores): 58 to 65 ns in memory
// and 55 to 117 ns with Redis across runs (0.95x to 1.8x; the flusher
// cannot keep up at that rate, so most of these events were dropped as
// store_unavailable, at the same cost). Sustained ingest
// (BenchmarkFunnelIngest, 65,536 users through 4 steps, every event
// applied, flushed every 32,768 events, each of which changes its user's
// attempt): about 3.6 million events/s in memory, 306,000 through one
// local Redis and 429,000 through a local 3-master cluster on the same two
// cores (medians of 14 runs). Redis is the bound: it spends 2.9 µs of CPU
// per event (INFO commandstats: 2.5 µs in the script, of which a SET of
// the user's attempt about 0.5 and the MGET 0.36), so one server is about
// 89% busy at that rate; the cluster's three servers and the process need
// 3.7 µs of CPU per event, more than two cores give for twice one
// server's rate.
//
// Flush, Shutdown and Close return by their deadline whatever Redis does:
// one flush's round trip is bounded by 500 ms (a silent server is
// reported through the OTel error handler within a second), and a
// Shutdown bounds every round trip it waits for by its own deadline (go-redis
// ends a read in flight at a context's deadline, not at its
// cancellation). Every
// event buffered and not written is counted as store_unavailable, every
// event recorded after Close as closed.
//
// # Concurrency
//
// [Funnel], [Goal] and [Activity] are safe for concurrent use. Recording never blocks
// on collection for long: collection takes a read lock on the table of
// segment combinations only. No goroutine is started without a state
// option; [WithSnapshot] with a positive interval starts one that writes
// snapshots, [WithState] two for an activity (the store's flusher and
// the one that hands money over) and one for a funnel or goal (its
// flusher); they end in
// Close or Shutdown, which also write the last snapshot or the buffered
// writes within their deadline. The methods of a nil
// *Funnel, *Goal or *Activity do nothing, which is the no-op path. Nothing
// panics on bad input.
//
// # Closing
//
// [Funnel.Close], [Goal.Close] and [Activity.Close] stop recording, stop
// the recorder's goroutines and connections, and read the figures one
// last time; the recorder then keeps reporting those last values to its
// MeterProvider. Whatever the order of the recorder's Close and the
// provider's Shutdown, the provider's final collection carries the last
// values, so the natural order of defers works:
//
//	defer provider.Shutdown(ctx) // runs last: its final export has the figures
//	checkout, err := customer.NewFunnel("checkout", steps, customer.WithMeterProvider(provider))
//	...
//	defer checkout.Close() // runs first
//
// An event recorded after Close is dropped and counted on kpikit.dropped
// with reason closed; one recorded while Close runs may be missing from
// the last values. A closed recorder reports its last values for as long
// as its provider lives: a recorder that replaces it under the same name
// belongs on another provider, or the two report the same series.
package customer
