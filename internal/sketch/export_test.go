package sketch

import "slices"

// Fingerprints returns the fingerprints of a set in either sparse tier
// with the rho of their registers (f<<8 | rho), sorted, or nil.
func Fingerprints(s *Set) []uint64 {
	v := s.snapshot()
	var fs []uint64
	add := func(f uint32, rho uint8) { fs = append(fs, uint64(f)<<8|uint64(rho)) }
	switch {
	case v.pk != nil:
		v.pk.each(add)
	case v.sp != nil:
		v.sp.each(add)
	}
	slices.Sort(fs)
	return fs
}

// Tier names the tier s is in: exact, sparse, packed or dense.
func Tier(s *Set) string {
	switch {
	case s.dense.Load() != nil:
		return "dense"
	case s.packed.Load() != nil:
		return "packed"
	case s.sparse.Load() != nil:
		return "sparse"
	}
	return "exact"
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
