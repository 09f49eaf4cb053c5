package operational

import (
	"context"
	"net"
	"syscall"
)

// Error types assigned by [ErrorType], besides the value of an error's own
// ErrorType method.
const (
	errCanceled          = "context_canceled"
	errDeadline          = "context_deadline_exceeded"
	errTimeout           = "timeout"
	errDNS               = "dns_error"
	errConnRefused       = "connection_refused"
	errConnReset         = "connection_reset"
	maxErrorChainVisited = 64
)

// ErrorType returns the error.type value recorded for err: "" for nil, else
// the first match of
//
//  1. the value of an ErrorType() string method of an error in the chain
//     (the outermost one), so that a typed error names itself;
//  2. "context_canceled" when the chain holds [context.Canceled];
//  3. "context_deadline_exceeded" when it holds [context.DeadlineExceeded];
//  4. "timeout" for a [net.Error] whose Timeout method reports true
//     (including [os.ErrDeadlineExceeded]);
//  5. "dns_error" for a [*net.DNSError];
//  6. "connection_refused" or "connection_reset" for ECONNREFUSED or
//     ECONNRESET;
//  7. "_OTHER".
//
// The chain is walked as [errors.Is] walks it, Unwrap() error and
// Unwrap() []error alike. An empty ErrorType value counts as "_OTHER".
// Recorders cap the number of distinct values (see [WithValueLimit]).
func ErrorType(err error) string {
	if err == nil {
		return ""
	}
	kind, named := classify(err)
	if kind == kindNamed {
		return named
	}
	return kindNames[kind]
}

// Error kinds: indexes into kindNames; kindNamed means the error named its
// own type.
const (
	kindCanceled = iota
	kindDeadline
	kindTimeout
	kindDNS
	kindRefused
	kindReset
	kindOther
	kindNamed
)

var kindNames = [...]string{errCanceled, errDeadline, errTimeout, errDNS, errConnRefused, errConnReset, other}

// classify returns the kind of a non-nil err and, for kindNamed, its name.
func classify(err error) (kind int, named string) {
	var c classification
	c.walk(err, 0)
	switch {
	case c.named != "":
		return kindNamed, c.named
	case c.flags&flagCanceled != 0:
		return kindCanceled, ""
	case c.flags&flagDeadline != 0:
		return kindDeadline, ""
	case c.flags&flagTimeout != 0:
		return kindTimeout, ""
	case c.flags&flagDNS != 0:
		return kindDNS, ""
	case c.flags&flagRefused != 0:
		return kindRefused, ""
	case c.flags&flagReset != 0:
		return kindReset, ""
	}
	return kindOther, ""
}

const (
	flagCanceled = 1 << iota
	flagDeadline
	flagTimeout
	flagDNS
	flagRefused
	flagReset
)

type classification struct {
	named   string
	flags   uint8
	visited int
}

// walk visits err and its chain depth first, without allocating.
func (c *classification) walk(err error, depth int) {
	for err != nil {
		if c.visited++; c.visited > maxErrorChainVisited || depth > maxErrorChainVisited {
			return
		}
		c.node(err)
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				c.walk(e, depth+1)
			}
			return
		default:
			return
		}
	}
}

func (c *classification) node(err error) {
	switch err {
	case context.Canceled:
		c.flags |= flagCanceled
		return
	case context.DeadlineExceeded:
		c.flags |= flagDeadline
		return
	}
	if c.named == "" {
		if t, ok := err.(interface{ ErrorType() string }); ok {
			c.named = t.ErrorType()
			if c.named == "" {
				c.named = other
			}
		}
	}
	if is, ok := err.(interface{ Is(error) bool }); ok {
		if is.Is(context.Canceled) {
			c.flags |= flagCanceled
		}
		if is.Is(context.DeadlineExceeded) {
			c.flags |= flagDeadline
		}
	}
	switch e := err.(type) {
	case *net.DNSError:
		c.flags |= flagDNS
		if e.IsTimeout {
			c.flags |= flagTimeout
		}
	case syscall.Errno:
		switch e {
		case syscall.ECONNREFUSED:
			c.flags |= flagRefused
		case syscall.ECONNRESET:
			c.flags |= flagReset
		}
		if e.Timeout() {
			c.flags |= flagTimeout
		}
	case net.Error:
		if e.Timeout() {
			c.flags |= flagTimeout
		}
	}
}
