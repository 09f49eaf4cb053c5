package shared

import (
	"context"
	"time"

	"github.com/kpikit/kpikit/internal/period"
	"github.com/kpikit/kpikit/internal/selfobs"
)

// ActiveDays is the longest active-user window of an activity, in days;
// the other windows are 1 and 7 days.
const ActiveDays = 30

// Kind is what an activity event records.
type Kind uint8

// Kinds of activity events.
const (
	// Active is activity: the user counts as active in the event's day and
	// period, and in the cohort's cell at the event's offset.
	Active Kind = iota
	// Purchase is a purchase, which is also activity: money, a purchase and
	// a paying user in the period and, when the cohort is known, its cell.
	Purchase
	// Refund is a refund: money taken off the period and, when the cohort
	// is known, its cell; a refund counts no user and is not activity.
	Refund
)

// ActivityEvent is one event of an activity recorder, validated by it:
// the user id is not empty, the event is within the horizon and not in the
// future, the currency has a slot and the amount is not negative.
type ActivityEvent struct {
	User     uint64 // sketch.Hash of the user id
	Period   int64  // index q of the event's period
	Cohort   int64  // index c <= q of the user's cohort, when Known
	Day      int64  // index of the event's day, in the activity's location
	Amount   int64  // Purchase, Refund: in the scale of the currency's slot
	Currency int    // Purchase, Refund: the currency's slot
	Kind     Kind
	Known    bool // the cohort is known
}

// Currencies are the currency slots of an activity: a currency's slot is
// the index of its money in every period and cohort cell, and in the
// figures of [Activity.Read]. The recorder implements it; every method is
// safe for concurrent use.
type Currencies interface {
	// Declared reports whether the activity takes only the currencies it
	// declared; otherwise every ISO 4217 currency takes the next free
	// slot on first use.
	Declared() bool
	// Slots returns the number of slots kept per period and cell: the
	// declared currencies, or the most an activity takes.
	Slots() int
	// Len returns the number of slots in use; it only grows.
	Len() int
	// Code returns the ISO 4217 code of slot i < Len().
	Code(i int) string
	// Take gives code a slot, when the activity takes it, it has none yet
	// and one is left: a currency another replica took.
	Take(code string)
}

// ActivityDrops are the reasons under which the shared state counts the
// events it drops on the recorder's kpikit.dropped counter. It adds from
// its own goroutines and from Flush and Shutdown, never from Record or
// Defer, whose refusals the recorder counts.
type ActivityDrops struct {
	// Unavailable counts events the state could not write: its buffer was
	// full, the resolution of their cohorts failed at shutdown, or money
	// was not acknowledged by the Shutdown deadline (one per purchase or
	// refund).
	Unavailable selfobs.Reason
	// Overflow counts purchases and refunds whose amount the state refused
	// because a total would overflow.
	Overflow selfobs.Reason
	// BeforeCohort counts deferred events that turned out to be before the
	// first-seen cohort another replica decided.
	BeforeCohort selfobs.Reason
	// Late counts deferred events whose period left the horizon while their
	// cohort was being resolved.
	Late selfobs.Reason
}

// ActivityConfig describes an activity recorder to its shared state.
type ActivityConfig struct {
	Name       string // the recorder's name; replicas with one name share state
	Unit       period.Unit
	Location   *time.Location
	Horizon    int // periods kept, cohorts included
	Currencies Currencies
	Drops      ActivityDrops
	// Resolved is called with the first-seen cohort that the shared state
	// decided for the user of an event given to Defer, before the event is
	// recorded with it; for a refund of a user without a cohort it is not
	// called. It is called from the state's goroutine, or from Flush and
	// Shutdown.
	Resolved func(user uint64, cohort int64)
}

// Activity is the shared state of an activity recorder: distinct-user
// sets, first-seen cohorts and exact money totals, shared by the replicas
// that use the same state and recorder name. Every method is safe for
// concurrent use.
type Activity interface {
	// Record takes an event whose cohort the recorder knows (Known), or
	// an event of a user whose cohort is not kept (not Known: a refund of
	// a user never seen, or a user beyond the recorder's cap). It is on
	// the recording path: it never waits for the store (writes happen in
	// the background) and allocates only when a period, cell or currency
	// is first used. It reports false, having recorded nothing, when the
	// amount would overflow a money total not yet written; the recorder
	// counts the event as amount_overflow.
	Record(e ActivityEvent) bool
	// Defer takes an event of a user without a signup time whose
	// first-seen cohort the recorder does not know: the state resolves it
	// across replicas (the cohort is the period of the first event that
	// any replica handed over), calls Resolved, and records the event as
	// Record would. It reports false, having kept nothing, when too many
	// events wait for their cohort or after Shutdown; the recorder counts
	// the event as store_unavailable.
	Defer(e ActivityEvent) bool
	// Read returns the figures of the periods q.Top-Horizon+1 to q.Top as
	// every replica sees them; events not written yet are not included.
	// It first gives a slot to every currency another replica took (see
	// [Currencies.Take]). With an error, the figures are what could be
	// read: nil when nothing could.
	Read(ctx context.Context, q ActivityQuery) (*ActivityFigures, error)
	// Flush writes what was handed over before the call (cohorts
	// resolved, money acknowledged, sets written), or returns ctx.Err()
	// when ctx ends first.
	Flush(ctx context.Context) error
	// Shutdown writes what it can until ctx ends, counts the rest on the
	// drop reasons, and stops the state's goroutines. It returns by the
	// deadline of ctx; a goroutine whose round trip is in flight then ends
	// with it, by the round trip's own bound, and its result is discarded.
	// Read still works after it. Later calls return nil.
	Shutdown(ctx context.Context) error
}

// ActivityQuery says which figures [Activity.Read] returns.
type ActivityQuery struct {
	Top   int64 // the newest period index read
	Today int64 // the day index on which the active-user windows end, unless a later day has events
}

// ActivityFigures are the figures of an activity as [Activity.Read]
// returns them.
type ActivityFigures struct {
	// Periods are those of the horizon that ends at the query's Top,
	// oldest first.
	Periods []PeriodFigures
	// DAU, WAU and MAU are the distinct users active in the windows of 1,
	// 7 and ActiveDays days that end today, or on the newest day with an
	// event when later.
	DAU, WAU, MAU uint64
}

// PeriodFigures are the figures of one period index: the period and the
// cohort of the users whose cohort it is.
type PeriodFigures struct {
	Index   int64
	Active  uint64 // distinct users active in the period
	Members uint64 // distinct users of the cohort
	// Money has the figures of currency slots 0 to len-1, as read: nil
	// when they could not be read.
	Money []Money
	// Cells are the cohort's figures at offsets 0 to Top-Index, when it
	// has members; otherwise nil.
	Cells []CellFigures
}

// CellFigures are the figures of one cohort at one offset.
type CellFigures struct {
	On        uint64 // users of the cohort active in the period at the offset
	OnOrAfter uint64 // users of the cohort active in it or any later period
	// Money is as in PeriodFigures, without refunds or paying users.
	Money []Money
}

// Money is the money of one currency slot: revenue net of refunds in the
// currency's scale, purchases, refunds, and distinct paying users.
type Money struct {
	Revenue, Purchases, Refunds int64
	Paying                      uint64
}
