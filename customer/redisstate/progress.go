package redisstate

import (
	"errors"

	"github.com/kpikit/kpikit/internal/shared"
)

// NewProgress implements shared.Backend.
func (s *Store) NewProgress(cfg shared.ProgressConfig) (shared.Progress, error) {
	return nil, errors.New("redisstate: funnels and goals are not kept in Redis yet")
}
