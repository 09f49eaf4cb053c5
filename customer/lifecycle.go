package customer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kpikit/kpikit/internal/period"
	"github.com/kpikit/kpikit/internal/ring"
	"github.com/kpikit/kpikit/internal/shared"
)

// This file is the lifecycle of an Activity's users (WithLifecycle). Per
// user it keeps a lifeRecord: the periods and the days the user was
// active. Each activity that makes a user active in a period for the
// first time classifies the user there as PostHog's lifecycle does (new,
// returning, resurrecting) and adds to exact counters of the period;
// dormant users are derived from them at collection. The stickiness
// distribution (users by number of active days in the last 7 and 30 days)
// is counted at collection from the records' day bitmaps.
//
// The records replace the first-seen map: the record of a user recorded
// without a signup time holds its first-seen cohort, under the same cap
// and counter (firstSeen.n), so that one lock and one probe of the
// shard's table serve the cohort and the lifecycle.

// Lifecycle statuses, the values of the lifecycle.status attribute of
// customer.active.lifecycle.
const (
	// LifecycleNew counts the users active in the period whose cohort is
	// the period.
	LifecycleNew = "new"
	// LifecycleReturning counts the users active in the period and in the
	// one before, whose cohort is earlier.
	LifecycleReturning = "returning"
	// LifecycleResurrecting counts the users active in the period and not
	// in the one before, whose cohort is earlier.
	LifecycleResurrecting = "resurrecting"
	// LifecycleDormant counts, as a negative number, the users active in
	// the period before and not in the period.
	LifecycleDormant = "dormant"
)

// Attribute keys of the lifecycle metrics.
const (
	statusKey     = attribute.Key("lifecycle.status")
	activeDaysKey = attribute.Key("active.days")
)

// lifeStatus is a user's status in a period it was active in; it indexes
// lifeCounts.n, whose element 0 counts the active users.
type lifeStatus uint8

const (
	lifeActive lifeStatus = iota // not a status: the index of the active users
	lifeNew
	lifeReturning
	lifeResurrecting
)

// lifeCounts are the exact lifecycle counters of one period: the tracked
// users active in it and, by status, those newly active.
type lifeCounts struct {
	n [4]atomic.Int64
}

// noPeriod marks the first-seen cohort or the latest day of a record as
// unset.
const noPeriod = math.MinInt32

// lifeReach is how far back, in periods from the user's latest active
// one, a late activity can still be classified: its status needs the
// period before it, and the period bitmap holds the latest 64.
const lifeReach = 63

// lifeRecord is what an activity keeps about one user with WithLifecycle:
// 24 bytes. The latest active period is the period of day.
type lifeRecord struct {
	periods uint64 // bit i: active in period latest-i
	cohort  int32  // the cohort of the lifecycle: the period of the signup time, or of first-seen
	seen    int32  // the first-seen cohort, or noPeriod
	day     int32  // the latest active day, or noPeriod
	days    uint32 // bit i: active on day day-i
}

// lifeChange is what one activity changes in the lifecycle counters of
// its period q.
type lifeChange struct {
	status lifeStatus // the user's status in q, newly active there; 0: none
	fix    bool       // the user, active in q+1, turns from resurrecting to returning there
	late   bool       // not classified: counted as lifecycle_late
}

// touch records that the user was active on day d, in period q of unit u,
// and returns the change of the counters. This is the rule of the
// lifecycle, in one place: a status is decided when a period's bit is
// set, and a bit set late (q before the latest period) also decides again
// the status of q+1, the only other period whose status depends on q.
func (r *lifeRecord) touch(q, d int64, u period.Unit) lifeChange {
	c := int64(r.cohort)
	if c > q { // a user whose events give different cohorts
		return lifeChange{late: true}
	}
	if r.day == noPeriod {
		r.days, r.periods = 1, 1
		atomic.StoreInt32(&r.day, int32(d)) // read by activeOn
		return lifeChange{status: lifeStatusOf(c, q, false)}
	}
	last := int64(r.day)
	if d == last {
		return lifeChange{}
	}
	top := u.IndexOfDay(last)
	if top-q >= lifeReach {
		return lifeChange{late: true}
	}
	if d > last {
		r.days = r.days<<uint64(d-last) | 1
		atomic.StoreInt32(&r.day, int32(d)) // read by activeOn
	} else if last-d < 32 {
		r.days |= 1 << uint64(last-d)
	}
	if q > top {
		r.periods = r.periods<<uint64(q-top) | 1
		return lifeChange{status: lifeStatusOf(c, q, q-1 == top)}
	}
	i := uint64(top - q)
	if r.periods>>i&1 != 0 {
		return lifeChange{}
	}
	r.periods |= 1 << i
	return lifeChange{
		status: lifeStatusOf(c, q, r.periods>>(i+1)&1 != 0),
		fix:    i > 0 && r.periods>>(i-1)&1 != 0,
	}
}

// lifeStatusOf is the status in period q of a user of cohort c <= q
// active in q, and in q-1 when before.
func lifeStatusOf(c, q int64, before bool) lifeStatus {
	switch {
	case c == q:
		return lifeNew
	case before:
		return lifeReturning
	}
	return lifeResurrecting
}

// window returns the days the user of r was active, up to day end: bit i
// is day end-i.
func (r *lifeRecord) window(end int64) uint32 {
	if r.day == noPeriod {
		return 0
	}
	if s := end - int64(r.day); s >= 0 {
		return r.days << uint64(s)
	} else { // a day after end: recorded while the collection ran
		return r.days >> uint64(-s)
	}
}

// activeDays returns the number of days from end-n+1 to end (n < 32) on
// which the user of r was active.
func (r *lifeRecord) activeDays(end, n int64) int {
	return bits.OnesCount32(r.window(end) & (1<<uint64(n) - 1))
}

// lifeTable holds lifeRecords keyed by the hash of the user id: open
// addressing with linear probing over slots of 32 bytes. A Go map with
// values of 24 bytes takes about 84 bytes per entry at most sizes
// (measured with Go 1.26: its tables split when 7/8 full, into tables
// less than half full); this table grows by half when 13/16 full, so it
// is between 54% and 81% full, 40 to 59 bytes per record. Every record
// is reached by one probe sequence, and records are never removed.
//
// Besides the shard's lock, activeOn reads the table without it: slots
// are published (pub) once filled, a slot's hash never changes once set,
// and the fields it reads (h, day, seen) are stored atomically once the
// slot is published.
type lifeTable struct {
	slots []lifeSlot
	n     int
	pub   atomic.Pointer[[]lifeSlot] // the slots, for activeOn
}

// lifeSlot is a slot of a lifeTable: empty while zero (a record has its
// day unset or its bit of that day set, see empty).
type lifeSlot struct {
	h uint64
	r lifeRecord
}

func (s *lifeSlot) empty() bool { return s.r.days == 0 && s.r.day != noPeriod }

// index returns the first slot of h's probe sequence: the top bits of h
// choose the shard, the others the slot (by multiply and shift, for any
// number of slots).
func (t *lifeTable) index(h uint64) int { return slotOf(h, len(t.slots)) }

// slotOf is the first slot of h's probe sequence among n slots.
func slotOf(h uint64, n int) int {
	hi, _ := bits.Mul64(h<<6, uint64(n))
	return int(hi)
}

// find returns the record of h, or nil.
func (t *lifeTable) find(h uint64) *lifeRecord {
	if len(t.slots) == 0 {
		return nil
	}
	for i := t.index(h); ; {
		s := &t.slots[i]
		switch {
		case s.empty():
			return nil
		case s.h == h:
			return &s.r
		}
		if i++; i == len(t.slots) {
			i = 0
		}
	}
}

// add adds r, which must not be empty, as the record of h, which must not
// have one, and returns it.
func (t *lifeTable) add(h uint64, r lifeRecord) *lifeRecord {
	if (t.n+1)*16 > len(t.slots)*13 {
		old := t.slots
		t.slots, t.n = make([]lifeSlot, max(16, len(old)*3/2)), 0
		for i := range old {
			if !old[i].empty() {
				t.add(old[i].h, old[i].r)
			}
		}
		pub := t.slots // filled before it is published
		t.pub.Store(&pub)
	}
	i := t.index(h)
	for !t.slots[i].empty() {
		if i++; i == len(t.slots) {
			i = 0
		}
	}
	s := &t.slots[i]
	s.r = r
	atomic.StoreUint64(&s.h, h) // last: activeOn reads the record once it sees h
	t.n++
	return &s.r
}

// activeOn reports, without the shard's lock, whether the user of hash h
// has a record whose latest active day is d, and the record's first-seen
// cohort. It may miss (a record being added, a table being grown, a hash
// of 0): the caller then takes the lock.
func (t *lifeTable) activeOn(h uint64, d int64) (seen int32, ok bool) {
	p := t.pub.Load()
	if p == nil || h == 0 {
		return 0, false
	}
	slots := *p
	for i := slotOf(h, len(slots)); ; {
		s := &slots[i]
		switch atomic.LoadUint64(&s.h) {
		case 0:
			return 0, false
		case h:
			return atomic.LoadInt32(&s.r.seen), int64(atomic.LoadInt32(&s.r.day)) == d
		}
		if i++; i == len(slots) {
			i = 0
		}
	}
}

// lifeUsers holds the lifeRecords of an activity, keyed by the hash of
// the user id, in 64 shards as firstSeen does; it takes over firstSeen's
// cap and counter.
type lifeUsers struct {
	seen   *firstSeen // its n counts the records, under its max
	unit   period.Unit
	shards [64]struct {
		mu sync.Mutex
		t  lifeTable
		_  [24]byte
	}
}

func newLifeUsers(seen *firstSeen, u period.Unit) *lifeUsers {
	return &lifeUsers{seen: seen, unit: u}
}

// each calls fn with every record, one shard at a time, under its lock.
func (l *lifeUsers) each(fn func(h uint64, r *lifeRecord)) {
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for j := range sh.t.slots {
			if s := &sh.t.slots[j]; !s.empty() {
				fn(s.h, &s.r)
			}
		}
		sh.mu.Unlock()
	}
}

// maxLifeDay is the latest day a record holds (year 5,881,580).
const maxLifeDay = math.MaxInt32

// clampPeriod returns c as a record holds it: a cohort before every day a
// record holds is as good as any other.
func clampPeriod(c int64) int32 {
	return int32(min(max(c, noPeriod+1), math.MaxInt32))
}

// event looks up the record of user h for an event in period q on day d.
// With signup, s is the period of the user's signup time; without, the
// record holds the first-seen cohort. It creates the record, when create
// is set and the cap allows (else capped), and records the activity when
// touch is set and the event is not before the user's cohort. It returns
// the cohort c as record uses it: known is false for a user without
// signup time whose first-seen cohort is not held, and member says to
// insert the user into the cohort's members.
func (l *lifeUsers) event(h uint64, q, d, s int64, signup, create, touch bool) (c int64, known, member, capped bool, ch lifeChange) {
	c, known, member = s, signup, signup
	if d > maxLifeDay {
		return c, known, member, false, ch
	}
	sh := &l.shards[h>>58]
	sh.mu.Lock()
	r := sh.t.find(h)
	switch {
	case r == nil && !create:
	case r == nil && l.seen.n.Add(1) > l.seen.max:
		l.seen.n.Add(-1)
		capped = true
	case r == nil:
		nr := lifeRecord{cohort: clampPeriod(s), seen: noPeriod, day: noPeriod}
		if !signup {
			nr.cohort, nr.seen = int32(q), int32(q)
			c, known, member = q, true, true
		}
		r = sh.t.add(h, nr)
	case signup:
	case r.seen != noPeriod:
		c, known = int64(r.seen), true
	case create: // known so far only with signup times
		atomic.StoreInt32(&r.seen, int32(q)) // read by activeOn
		c, known, member = q, true, true
	}
	if r != nil && touch && known && c <= q {
		ch = r.touch(q, d, l.unit)
	}
	sh.mu.Unlock()
	return c, known, member, capped, ch
}

// lifeCohort is the cohort step of record with WithLifecycle: the cohort
// of user h for an event of kind in period q on day d, and, for activity
// (not a purchase, which is recorded after its money by lifeActivity), the
// change of the counters.
//
// An activity of a user already active on day d changes no counter: when
// the user's record says so without the lock (activeOn), the record is
// left alone.
func (a *Activity) lifeCohort(h uint64, q, d int64, signup time.Time, kind shared.Kind) (c int64, known, member, capped bool, ch lifeChange) {
	if signup.IsZero() {
		if kind == kindActive {
			if seen, ok := a.life.activeOn(h, d); ok && seen != noPeriod {
				return int64(seen), true, false, false, lifeChange{}
			}
		}
		return a.life.event(h, q, d, 0, false, kind != kindRefund, kind == kindActive)
	}
	s := a.periodOf(a.dayOf(signup, signup.Unix()))
	if s > q || kind != kindActive { // dropped as before_cohort, or a purchase or a refund
		return s, true, true, false, lifeChange{}
	}
	if _, ok := a.life.activeOn(h, d); ok {
		return s, true, true, false, lifeChange{}
	}
	return a.life.event(h, q, d, s, true, true, true)
}

// activeOn is lifeTable.activeOn in h's shard.
func (l *lifeUsers) activeOn(h uint64, d int64) (seen int32, ok bool) {
	return l.shards[h>>58].t.activeOn(h, d)
}

// lifeActivity applies an accepted activity or purchase of user h, of
// cohort c, in period q (entry pe) on day d to the lifecycle: ch is the
// change the cohort step made for an activity; a purchase is recorded
// now, once its money is.
func (a *Activity) lifeActivity(ctx context.Context, pe *ring.Entry[periodState], h uint64, q, d, c int64, signup bool, kind shared.Kind, ch lifeChange) {
	if kind == kindPurchase {
		var capped bool
		_, _, _, capped, ch = a.life.event(h, q, d, c, signup, signup, true)
		if capped {
			a.drops.userCap.Add(ctx, 1)
		}
	}
	switch {
	case ch.late:
		a.drops.lifecycleLate.Add(ctx, 1)
	case ch.status != lifeActive:
		n := &pe.V.life.n
		n[lifeActive].Add(1)
		n[ch.status].Add(1)
		if !ch.fix {
			return
		}
		// The user is active in q+1, so its entry exists unless the
		// event that made it so has not created it yet: Get creates it.
		if next := a.periods.Get(q + 1); next != nil {
			next.V.life.n[lifeResurrecting].Add(-1)
			next.V.life.n[lifeReturning].Add(1)
		}
	}
}

// lifeViews are the attribute sets of the lifecycle figures of one
// period, by status (index lifeActive holds dormant).
type lifeViews [4][]metric.ObserveOption

// buildLifecycle creates the lifecycle instruments and their fixed
// attribute sets.
func (a *Activity) buildLifecycle(m metric.Meter) error {
	var errs [2]error
	a.lifecycle, errs[0] = m.Int64ObservableGauge(MetricActiveLifecycle, metric.WithUnit("{user}"),
		metric.WithDescription("Users new, returning or resurrecting in the period, and dormant ones (active in the period before, not in this one) as a negative count."))
	a.activeDays, errs[1] = m.Int64ObservableGauge(MetricActiveDays, metric.WithUnit("{user}"),
		metric.WithDescription("Users active on exactly active.days days of the rolling window of 7 or 30 days that ends today."))
	for i, w := range []string{"7d", "30d"} {
		n := []int{7, ActiveDays}[i]
		a.dayOpts[i] = make([][]metric.ObserveOption, n+1)
		for k := 1; k <= n; k++ {
			a.dayOpts[i][k] = observeOpt(a.nameAttr, windowKey.String(w), activeDaysKey.Int(k))
		}
	}
	a.lifeViews = make(map[int64]*lifeViews)
	return errors.Join(errs[:]...)
}

// observeLifecycle is the collection of an activity with WithLifecycle:
// the activity's figures, then the lifecycle and the stickiness
// distribution.
func (a *Activity) observeLifecycle(ctx context.Context, o metric.Observer) error {
	err := a.observe(ctx, o)
	a.observeStatuses(o)
	a.observeActiveDays(o)
	return err
}

// observeStatuses reports the lifecycle of each period of the horizon
// that has a figure; dormant needs the period before, so it is not
// reported for the oldest period of the horizon.
func (a *Activity) observeStatuses(o metric.Observer) {
	top := a.periods.Top()
	if top == ring.NoTop {
		return
	}
	lo := top - a.horizon + 1
	for q := range a.lifeViews {
		if q < lo {
			delete(a.lifeViews, q)
		}
	}
	var prev int64 // active users of q-1
	for q := lo; q <= top; q++ {
		var n [4]int64
		if e := a.periods.Lookup(q); e != nil {
			for i := range n {
				n[i] = e.V.life.n[i].Load()
			}
		}
		dormant := n[lifeReturning] - prev
		first := q == lo
		prev = n[lifeActive]
		if n[lifeNew] == 0 && n[lifeReturning] == 0 && n[lifeResurrecting] == 0 && (first || dormant == 0) {
			continue
		}
		v := a.lifeView(q)
		o.ObserveInt64(a.lifecycle, n[lifeNew], v[lifeNew]...)
		o.ObserveInt64(a.lifecycle, n[lifeReturning], v[lifeReturning]...)
		o.ObserveInt64(a.lifecycle, n[lifeResurrecting], v[lifeResurrecting]...)
		if !first {
			o.ObserveInt64(a.lifecycle, dormant, v[lifeActive]...)
		}
	}
}

// lifeView returns the attribute sets of period q, building them once.
func (a *Activity) lifeView(q int64) *lifeViews {
	if v := a.lifeViews[q]; v != nil {
		return v
	}
	p := periodKey.String(a.unit.Label(a.unit.Start(q, a.loc), a.loc))
	v := &lifeViews{
		observeOpt(a.nameAttr, p, statusKey.String(LifecycleDormant)),
		observeOpt(a.nameAttr, p, statusKey.String(LifecycleNew)),
		observeOpt(a.nameAttr, p, statusKey.String(LifecycleReturning)),
		observeOpt(a.nameAttr, p, statusKey.String(LifecycleResurrecting)),
	}
	a.lifeViews[q] = v
	return v
}

// observeActiveDays reports the stickiness distribution: the tracked
// users by number of active days in the windows of 7 and 30 days that
// end where DAU, WAU and MAU end. It scans every record, one shard at a
// time.
func (a *Activity) observeActiveDays(o metric.Observer) {
	if a.days.Top() == ring.NoTop {
		return
	}
	end := a.windowEnd()
	var week [8]int64
	var month [ActiveDays + 1]int64
	for i := range a.life.shards {
		sh := &a.life.shards[i]
		sh.mu.Lock()
		for j := range sh.t.slots {
			w := sh.t.slots[j].r.window(end) // 0 for an empty slot
			week[bits.OnesCount32(w&(1<<7-1))]++
			month[bits.OnesCount32(w&(1<<ActiveDays-1))]++
		}
		sh.mu.Unlock()
	}
	for k := 1; k <= 7; k++ {
		o.ObserveInt64(a.activeDays, week[k], a.dayOpts[0][k]...)
	}
	for k := 1; k <= ActiveDays; k++ {
		o.ObserveInt64(a.activeDays, month[k], a.dayOpts[1][k]...)
	}
}

// Lifecycle section of the snapshot payload, after the days, only with
// WithLifecycle: lifeSection, the byte length of what follows, then
//
//	users: count, (hash as 8 bytes, cohort, seen, day, days, periods)...
//	periods: count, (index, active, new, returning, resurrecting)...
//
// An activity without WithLifecycle skips it; a payload without it loads
// with no lifecycle state (the first-seen cohorts, which the records
// hold, come from the first-seen section).
const lifeSection = 1

// appendSeen appends the first-seen section from the records: the
// cohorts of the users that have one.
func (l *lifeUsers) appendSeen(b []byte) []byte {
	var pairs []int64 // hash, cohort
	l.each(func(h uint64, r *lifeRecord) {
		if r.seen != noPeriod {
			pairs = append(pairs, int64(h), int64(r.seen))
		}
	})
	b = binary.AppendUvarint(b, uint64(len(pairs)/2))
	for i := 0; i < len(pairs); i += 2 {
		b = binary.LittleEndian.AppendUint64(b, uint64(pairs[i]))
		b = binary.AppendVarint(b, pairs[i+1])
	}
	return b
}

// appendLife appends the lifecycle section: the records and the counters
// of periods.
func (a *Activity) appendLife(b []byte, periods []*ring.Entry[periodState]) []byte {
	b = binary.AppendUvarint(b, lifeSection)
	var body []byte
	type user struct {
		h uint64
		r lifeRecord
	}
	var users []user
	a.life.each(func(h uint64, r *lifeRecord) { users = append(users, user{h, *r}) })
	body = binary.AppendUvarint(body, uint64(len(users)))
	for _, u := range users {
		body = binary.LittleEndian.AppendUint64(body, u.h)
		body = binary.AppendVarint(body, int64(u.r.cohort))
		body = binary.AppendVarint(body, int64(u.r.seen))
		body = binary.AppendVarint(body, int64(u.r.day))
		body = binary.AppendUvarint(body, uint64(u.r.days))
		body = binary.AppendUvarint(body, u.r.periods)
	}
	body = binary.AppendUvarint(body, uint64(len(periods)))
	for _, e := range periods {
		body = binary.AppendVarint(body, e.Index)
		for i := range e.V.life.n {
			body = binary.AppendVarint(body, e.V.life.n[i].Load())
		}
	}
	b = binary.AppendUvarint(b, uint64(len(body)))
	return append(b, body...)
}

// restoreSections reads what follows the days: the lifecycle section,
// which an activity without WithLifecycle skips.
func (a *Activity) restoreSections(d *decoder) error {
	for len(d.b) > 0 && d.err == nil {
		tag := d.uvarint()
		body := d.bytes(d.uvarint())
		switch {
		case d.err != nil:
		case tag != lifeSection:
			return fmt.Errorf("unknown section %d", tag)
		case a.life != nil:
			if err := a.restoreLife(&decoder{b: body}); err != nil {
				return err
			}
		}
	}
	return d.err
}

// restoreLife reads the lifecycle section.
func (a *Activity) restoreLife(d *decoder) error {
	int32Of := func(v int64) int32 {
		if v < math.MinInt32 || v > math.MaxInt32 {
			d.err = fmt.Errorf("lifecycle value %d out of range", v)
		}
		return int32(v)
	}
	for n := d.count(12); n > 0 && d.err == nil; n-- {
		h := d.fixed64()
		r := lifeRecord{cohort: int32Of(d.varint()), seen: int32Of(d.varint()), day: int32Of(d.varint())}
		days := d.uvarint()
		r.periods = d.uvarint()
		if d.err == nil && (days > math.MaxUint32 || (r.day != noPeriod) != (days&1 != 0)) {
			d.err = fmt.Errorf("lifecycle days %#x out of range", days)
		}
		if d.err == nil {
			r.days = uint32(days)
			a.life.restore(h, r)
		}
	}
	for n := d.count(5); n > 0 && d.err == nil; n-- {
		q := d.varint()
		var v [4]int64
		for i := range v {
			v[i] = d.varint()
		}
		if d.err != nil {
			break
		}
		e := a.periods.Lookup(q)
		if e == nil {
			return fmt.Errorf("lifecycle of period %d, which the snapshot does not hold", q)
		}
		for i := range v {
			e.V.life.n[i].Store(v[i])
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d bytes left over in the lifecycle", len(d.b))
	}
	return d.err
}

// restore sets the record of h, within the cap.
func (l *lifeUsers) restore(h uint64, r lifeRecord) {
	sh := &l.shards[h>>58]
	sh.mu.Lock()
	switch old := sh.t.find(h); {
	case old != nil:
		*old = r
	case l.seen.n.Load() < l.seen.max:
		l.seen.n.Add(1)
		sh.t.add(h, r)
	}
	sh.mu.Unlock()
}

// restoreSeen records c as the first-seen cohort of h, within the cap.
func (l *lifeUsers) restoreSeen(h uint64, c int64) {
	l.restore(h, lifeRecord{cohort: clampPeriod(c), seen: clampPeriod(c), day: noPeriod})
}
