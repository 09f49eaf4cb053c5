package redisstore

import (
	"math/rand/v2"
	"time"
)

// Backoff is the delay between retries of a write Redis did not take: it
// starts at [MinBackoff], doubles per failure up to Max (at least
// MinBackoff), and each wait is drawn from the upper half of the delay so
// that replicas that failed together do not retry together. The zero
// value with Max set is ready to use.
type Backoff struct {
	Max   time.Duration
	delay time.Duration // of the next wait; 0: MinBackoff
}

// Delay returns the delay the next wait is drawn under.
func (b *Backoff) Delay() time.Duration {
	if b.delay == 0 {
		return MinBackoff
	}
	return b.delay
}

// Next returns the wait before the next retry and doubles the delay.
func (b *Backoff) Next() time.Duration {
	d := b.Delay()
	b.delay = min(2*d, max(b.Max, MinBackoff))
	return d/2 + rand.N(d/2+1)
}

// Reset starts the delays over, after a success.
func (b *Backoff) Reset() { b.delay = 0 }
