// Package outcome carries the outcome of a request (or an operation) from
// package operational, which decides it, to the recorders of package
// customer, which know the user the request was for: a customer recorder
// called with the request's context links the user to the request, and
// when the request ends as a failure every link is told so, with the
// failure's error.type. Neither package imports the other; both import
// this one.
//
// A context without an Outcome costs a recorder one context lookup and
// nothing else.
package outcome

import (
	"context"
	"reflect"
	"slices"
	"sync"
)

// MaxLinks is the number of links one request keeps; a link past it is
// refused (Link returns false) and the recorder counts it as dropped.
const MaxLinks = 8

// maxDepth bounds the chain of enclosing outcomes a link is added to.
const maxDepth = 4

// Users is given the users linked to a failed outcome (see
// [Outcome.Finish]).
type Users interface {
	Add(user string)
}

// UsersFunc is a function that is a Users.
type UsersFunc func(user string)

// Add calls f.
func (f UsersFunc) Add(user string) { f(user) }

// Sink is a recorder that links users to requests: it is told once per
// link whose request failed. A link to the same user, step and sink
// (of a comparable type, a pointer) as one the request holds is not kept
// again.
type Sink interface {
	Failed(l Link, errorType string)
}

// Link ties a user to a request: Sink is told if the request fails. Step
// is the recorder's own detail (a funnel step), -1 for none.
type Link struct {
	Sink Sink
	User string
	Step int
}

// State of an Outcome.
const (
	pending = iota
	succeeded
	failed
)

// Outcome is the outcome of one request, pending until Finish. Its zero
// value is a pending outcome with no links and no parent. It is safe for
// concurrent use: a goroutine the handler started may link after the
// handler returned.
type Outcome struct {
	mu        sync.Mutex
	state     uint8
	n         uint8 // links kept: first, then more
	errorType string
	users     Users // Finish's, kept for the links made after a failure
	parent    *Outcome
	first     Link
	more      *[MaxLinks - 1]Link // allocated at the second link, which few requests make
}

// Init makes o a pending outcome enclosed by parent (an outer request or
// operation; nil for none), which will hear of o's links too.
func (o *Outcome) Init(parent *Outcome) {
	o.parent = parent
}

// Link links l.User to o and to the outcomes enclosing it. It reports
// false when o is full and the link was not kept. A link made after o
// finished as a failure (by a goroutine the handler left running, as
// [net/http.TimeoutHandler] does) is told at once, and its user is given
// to the users function of Finish.
func (o *Outcome) Link(l Link) bool {
	kept := true
	for x, depth := o, 0; x != nil && depth < maxDepth; x, depth = x.parent, depth+1 {
		if !x.link(l) && x == o {
			kept = false
		}
	}
	return kept
}

func (o *Outcome) link(l Link) bool {
	o.mu.Lock()
	switch o.state {
	case failed:
		errType, users := o.errorType, o.users
		o.mu.Unlock()
		l.Sink.Failed(l, errType)
		if users != nil {
			users.Add(l.User)
		}
		return true
	case succeeded:
		o.mu.Unlock()
		return true
	}
	if o.n > 0 && (same(o.first, l) || o.more != nil && slices.ContainsFunc(o.more[:o.n-1], func(m Link) bool { return same(m, l) })) {
		// A handler that records the same step for the same user again
		// (an item added to the cart in a loop) does not fill the request.
		o.mu.Unlock()
		return true
	}
	switch {
	case o.n == MaxLinks:
		o.mu.Unlock()
		return false
	case o.n == 0:
		o.first = l
	default:
		if o.more == nil {
			o.more = new([MaxLinks - 1]Link)
		}
		o.more[o.n-1] = l
	}
	o.n++
	o.mu.Unlock()
	return true
}

// same reports whether a and b link the same user at the same step to
// the same sink; a sink whose type is not comparable is never the same.
func same(a, b Link) bool {
	if a.User != b.User || a.Step != b.Step {
		return false
	}
	t := reflect.TypeOf(a.Sink)
	return t != nil && t == reflect.TypeOf(b.Sink) && t.Comparable() && a.Sink == b.Sink
}

// take removes and returns the links kept; the caller holds o.mu.
func (o *Outcome) take() (first Link, more []Link, n int) {
	first, n = o.first, int(o.n)
	if n > 1 {
		more = o.more[:n-1]
	}
	o.first, o.more, o.n = Link{}, nil, 0 // let the users' strings go
	return first, more, n
}

// Finish ends o, once: when failed, each link's Sink is told, with
// errorType, and users (when not nil) is given each linked user, those
// linked later included. A second Finish, and Finish of a nil
// *Outcome, do nothing.
func (o *Outcome) Finish(isFailed bool, errorType string, users Users) {
	if o == nil {
		return
	}
	o.mu.Lock()
	if o.state != pending {
		o.mu.Unlock()
		return
	}
	if !isFailed {
		o.state = succeeded
		o.take()
		o.mu.Unlock()
		return
	}
	o.state, o.errorType, o.users = failed, errorType, users
	first, more, n := o.take()
	o.mu.Unlock()
	if n == 0 {
		return
	}
	tell := func(l Link) {
		l.Sink.Failed(l, errorType)
		if users != nil {
			users.Add(l.User)
		}
	}
	tell(first)
	for _, l := range more {
		tell(l)
	}
}

type key struct{}

// Key is the context key of the Outcome of a request; a context that holds
// one answers Value(Key) with its *Outcome.
var Key any = key{}

// From returns the Outcome of the request ctx belongs to, or nil.
func From(ctx context.Context) *Outcome {
	if ctx == nil {
		return nil
	}
	o, _ := ctx.Value(Key).(*Outcome)
	return o
}

// Context is a context.Context that holds an Outcome without allocating
// one more value: embed it in a per-request struct, Set its parent, and
// hand &ctx on. Its zero value is not usable.
type Context struct {
	context.Context
	Outcome Outcome
}

// Set makes c the child of parent holding c.Outcome, enclosed by the
// outcome of parent if it has one.
func (c *Context) Set(parent context.Context) {
	c.Context = parent
	c.Outcome.Init(From(parent))
}

// Value answers Key with the outcome and asks the parent anything else.
func (c *Context) Value(k any) any {
	if k == Key {
		return &c.Outcome
	}
	return c.Context.Value(k)
}
