package redisstate

import (
	"errors"

	"github.com/kpikit/kpikit/internal/shared"
)

// NewActivity implements shared.Backend.
func (s *Store) NewActivity(cfg shared.ActivityConfig) (shared.Activity, error) {
	return nil, errors.New("redisstate: activities are not kept in Redis yet")
}
