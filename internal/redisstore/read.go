package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// PFCount returns the distinct count of one key, or of the union of
// several (PFCOUNT k1 k2 …, without changing them). Missing keys count as
// empty. Events still buffered are not included: call [Store.Flush] first
// for read-your-writes.
func (s *Store) PFCount(ctx context.Context, keys ...Key) (int64, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.name
	}
	ctx, cancel := Bound(ctx)
	defer cancel()
	n, err := s.client.PFCount(ctx, names...).Result()
	if err != nil {
		return 0, fmt.Errorf("redisstore: pfcount: %w", err)
	}
	return n, nil
}

// Get returns the integer at k and whether k exists.
func (s *Store) Get(ctx context.Context, k Key) (int64, bool, error) {
	ctx, cancel := Bound(ctx)
	defer cancel()
	n, err := s.client.Get(ctx, k.name).Int64()
	switch {
	case errors.Is(err, redis.Nil):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("redisstore: get %q: %w", k.name, err)
	}
	return n, true, nil
}

// MGet returns the integers at keys, 0 for a missing key, in one round
// trip. A value that is not an integer is an error naming its key.
func (s *Store) MGet(ctx context.Context, keys ...Key) ([]int64, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.name
	}
	ctx, cancel := Bound(ctx)
	defer cancel()
	vals, err := s.client.MGet(ctx, names...).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: mget: %w", err)
	}
	out := make([]int64, len(keys))
	for i, v := range vals {
		if v == nil {
			continue
		}
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("redisstore: mget %q: unexpected value type %T", names[i], v)
		}
		if out[i], err = strconv.ParseInt(str, 10, 64); err != nil {
			return nil, fmt.Errorf("redisstore: mget %q: not an integer: %w", names[i], err)
		}
	}
	return out, nil
}
