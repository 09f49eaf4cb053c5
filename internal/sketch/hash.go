package sketch

import "github.com/cespare/xxhash/v2"

// Hash returns the 64-bit hash of a user id that a [Set] stores: XXH64 with
// seed 0 over the id's bytes. It is identical in every process, on every
// machine and architecture, and does not allocate. The hash function is part
// of the persisted format: changing it would require a new format version.
func Hash(id string) uint64 { return xxhash.Sum64String(id) }

// HashBytes is [Hash] for an id held in a byte slice; HashBytes(b) ==
// Hash(string(b)).
func HashBytes(id []byte) uint64 { return xxhash.Sum64(id) }
