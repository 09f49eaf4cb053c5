package redisstate

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/kpikit/kpikit/internal/shared"
)

// Defaults of the options.
const (
	DefaultKeyPrefix  = "kpikit:"
	DefaultBufferSize = 1 << 16
	maxBufferSize     = 1 << 26
)

// Store is the Redis state of customer recorders; pass it to them with
// customer.WithState. One Store may serve any number of recorders; each
// keeps its own buffers and goroutines, which its Shutdown or Close stops.
type Store struct {
	client     redis.UniversalClient
	prefix     string
	bufferSize int // a power of two
}

var _ shared.Backend = (*Store)(nil)

// Option configures [New].
type Option func(*Store)

// WithKeyPrefix sets the prefix of every key (default [DefaultKeyPrefix]).
// Replicas that share state use the same prefix; separate environments on
// one server use different ones. A prefix with a brace is an error: it
// would take the place of the keys' hash tags.
func WithKeyPrefix(prefix string) Option {
	return func(s *Store) { s.prefix = prefix }
}

// WithBufferSize sets how many events each recorder holds while Redis is
// slow or unreachable (default [DefaultBufferSize], rounded up to a power
// of two). When it is full the oldest event is dropped and counted on
// kpikit.dropped with reason "store_unavailable". Money is never held
// there: see the package documentation of customer, "State".
func WithBufferSize(n int) Option {
	return func(s *Store) { s.bufferSize = n }
}

// New returns a store that writes through client. A nil client, a client
// without ContextTimeoutEnabled, and an option whose value cannot work are
// errors that name the value.
func New(client redis.UniversalClient, opts ...Option) (*Store, error) {
	s := &Store{client: client, prefix: DefaultKeyPrefix, bufferSize: DefaultBufferSize}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	var errs []error
	switch ok, known := contextTimeouts(client); {
	case !known && !ok && client == nil:
		errs = append(errs, errors.New("redisstate: nil client"))
	case !known && !ok:
		errs = append(errs, fmt.Errorf("redisstate: nil %T client", client))
	case known && !ok:
		errs = append(errs, fmt.Errorf("redisstate: the %T does not honour context deadlines: set ContextTimeoutEnabled in its options, so that Flush, Shutdown and Close keep their deadlines", client))
	}
	if strings.ContainsAny(s.prefix, "{}") {
		errs = append(errs, fmt.Errorf("redisstate: key prefix %q has a brace, which would replace the keys' hash tags", s.prefix))
	}
	if s.bufferSize < 1 || s.bufferSize > maxBufferSize {
		errs = append(errs, fmt.Errorf("redisstate: buffer size %d out of range 1..%d", s.bufferSize, maxBufferSize))
	} else {
		s.bufferSize = 1 << bits.Len(uint(s.bufferSize-1))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// contextTimeouts reports whether client honours context deadlines, and
// whether its type says (known); a nil pointer of a known type is
// reported as unknown.
func contextTimeouts(client redis.UniversalClient) (ok, known bool) {
	switch c := client.(type) {
	case *redis.Client:
		if c != nil {
			return c.Options().ContextTimeoutEnabled, true
		}
	case *redis.ClusterClient:
		if c != nil {
			return c.Options().ContextTimeoutEnabled, true
		}
	case *redis.Ring:
		if c != nil {
			return c.Options().ContextTimeoutEnabled, true
		}
	case nil:
	default:
		return true, false // another implementation: trusted
	}
	return false, false
}

// Client returns the client the store writes through.
func (s *Store) Client() redis.UniversalClient { return s.client }
