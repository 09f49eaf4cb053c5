package sketch

import "slices"

// Fingerprints returns the fingerprints of a sparse set with the rho of
// their registers (f<<8 | rho), sorted, or nil when s is not sparse.
func Fingerprints(s *Set) []uint64 {
	sp := s.sparse.Load()
	if sp == nil {
		return nil
	}
	var fs []uint64
	sp.each(func(f uint32, rho uint8) { fs = append(fs, uint64(f)<<8|uint64(rho)) })
	slices.Sort(fs)
	return fs
}

// FingerprintOf returns the fingerprint and register value of h, as
// Fingerprints lists them.
func FingerprintOf(h uint64) uint64 {
	f, rho := fingerprint(h)
	return uint64(f)<<8 | uint64(rho)
}

// ForceDense turns s dense now, as it turned at ExactLimit before the sparse
// tier existed.
func ForceDense(s *Set) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.toDenseLocked()
}

// ForceSparse turns an empty exact s sparse.
func ForceSparse(s *Set) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.toSparseLocked()
}
