package redisstore

import (
	"encoding/binary"
	"strings"

	"github.com/redis/go-redis/v9"
)

// This file keeps, next to a HyperLogLog key K, the sparse tier of
// package sketch in a Redis string K+SparseSuffix, its companion: the
// fingerprints of K's members in the table of sketch.Set's sparse mode,
// byte for byte, so that a reader counts a small set as exactly as a set
// in memory and uses PFCOUNT only once the table is full.

// Companion layout: see [SparseSuffix].
const (
	// SparseSuffix ends the name of the companion of a HyperLogLog key: K
	// and K+SparseSuffix share K's hash tag, so they live in one slot of a
	// Redis Cluster. The companion is absent while no member was written,
	// [SparseFull] (one byte) once the table is full, and otherwise the
	// slots of a sparse table (see sketch.FromSparse): 512 buckets of 16
	// slots of 2 bytes (uint16 little-endian), bucket b at byte 32*b.
	// It is written with all [SparseTableBytes], so that it never grows
	// (SETRANGE past its end would double its allocation); a reader pads a
	// shorter one with empty slots.
	SparseSuffix = ":s"
	// SparseFull is the value of a full companion: count K with PFCOUNT.
	SparseFull = "F"
	// SparseTableBytes is the size of a sparse table (sketch.SparseBytes).
	SparseTableBytes = 1 << 14
)

// sparseScript writes the buffered commands of keys that have a
// companion: KEYS are pairs (companion, its HyperLogLog key), and for pair
// i ARGV[2i-1] holds the operations on the companion and ARGV[2i] the
// PFADD members of the key, 16 bytes each (see [Member]). The key and its
// companion are written in one step, so that a key never exists without
// its companion: a key found without one was written by a version that
// kept none (or the companion was lost), which the companion could not
// count, so the script marks it full.
//
// An operation is 4 bytes (uint32 little-endian): f<<6 | rho adds
// fingerprint f with register value rho as sketch's sparseTable.add does,
// and 0 marks the companion full. The fingerprint goes to bucket b1 = f>>14
// or b2 = b1 ^ (1 + rem*511>>14), rem = f & 0x3fff, as slot 0x8000|rem in
// b1 or 0xc000|rem in b2; the slots of a bucket fill from the first.
// Present already, only its rho slot (alt<<11 | (rem>>9)<<6 | rho, in the
// same bucket, kept for an f whose low 9 bits are zero) is raised. New,
// it goes to b1 while b1 holds fewer than 12 slots, then to the bucket
// with fewer used slots (b1 on a tie, b2 when b1 lacks room), its rho
// slot first when it needs one; when neither has
// room the companion becomes SparseFull. The script reads the companion
// once (GET), works on the 32 bytes of each bucket it touches, and writes
// the buckets it changed (SETRANGE of 32 bytes each, or one SET of the
// whole table when it changed more than 16, or created it), so a
// companion always has its 16,384 bytes and never grows. Lua numbers are
// doubles: every value here is below 2^32.
//
// It returns the number of commands Redis refused: a companion or a key
// of another type.
var sparseScript = redis.NewScript(`
local bxor = bit.bxor
local byte, char, floor, sub, strfind, rep, concat = string.byte, string.char, math.floor, string.sub, string.find, string.rep, table.concat
local refused = 0
local zeros = rep('\0', 32)

-- A companion being written: its value as read (raw), and the buckets
-- changed so far (seg: bucket -> its 32 bytes; ndirty of them).
local t

-- seg returns the 32 bytes of bucket b.
local function seg(b)
  local s = t.seg[b]
  if s then return s end
  s = sub(t.raw, 32 * b + 1, 32 * b + 32)
  if #s < 32 then s = s .. sub(zeros, #s + 1) end
  return s
end

-- slot returns the first slot of s that holds the two bytes pat, or -1.
local function slot(s, pat)
  local p = strfind(s, pat, 1, true)
  while p do
    if p % 2 == 1 then return (p - 1) / 2 end
    p = strfind(s, pat, p + 1, true)
  end
  return -1
end

-- used returns the number of filled slots of s.
local function used(s)
  local j = slot(s, '\0\0')
  if j < 0 then return 16 end
  return j
end

local function enc(v) return char(v % 256, floor(v / 256)) end

-- put writes v to slot j of bucket b, whose bytes are s, and returns them.
local function put(b, s, j, v)
  s = sub(s, 1, 2 * j) .. enc(v) .. sub(s, 2 * j + 3)
  if not t.seg[b] then t.ndirty = t.ndirty + 1 end
  t.seg[b] = s
  return s
end

-- rhoslot returns the slot of s with the rho of the entry (alt, rem) and
-- its value, or -1.
local function rhoslot(s, alt, rem)
  local key = floor(rem / 512) * 64 + alt * 2048
  for j = 0, 15 do
    local lo, hi = byte(s, 2 * j + 1, 2 * j + 2)
    local v = lo + 256 * hi
    if v == 0 then break end
    if v < 32768 and v - v % 64 == key then return j, v end
  end
  return -1, 0
end

-- add inserts f with rho; false when f is new and neither bucket has room.
local function add(f, rho)
  local zero = f % 512 == 0
  local rem = f % 16384
  local b1 = floor(f / 16384)
  local b2 = bxor(b1, 1 + floor(rem * 511 / 16384))
  local s1, s2 = seg(b1), seg(b2)
  local c1, c2 = 32768 + rem, 49152 + rem
  local b, s, alt = b1, s1, 0
  local j = slot(s1, enc(c1))
  if j < 0 then
    b, s, alt = b2, s2, 1
    j = slot(s2, enc(c2))
  end
  if j >= 0 then
    if zero then
      local r, v = rhoslot(s, alt, rem)
      if r >= 0 and v % 64 < rho then put(b, s, r, v - v % 64 + rho) end
    end
    return true
  end
  local need = 1
  if zero then need = 2 end
  local n1, n2 = used(s1), used(s2)
  local n
  b, s, alt, n = b1, s1, 0, n1
  if n1 >= 12 and n2 < n1 or 16 - n1 < need then b, s, alt, n = b2, s2, 1, n2 end
  if 16 - n < need then return false end
  if zero then
    s = put(b, s, n, alt * 2048 + floor(rem / 512) * 64 + rho)
    n = n + 1
  end
  put(b, s, n, c1 + alt * 16384)
  return true
end

for i = 1, #KEYS / 2 do
  local k, key = KEYS[2 * i - 1], KEYS[2 * i]
  local ops, members = ARGV[2 * i - 1], ARGV[2 * i]
  local raw = redis.pcall('GET', k)
  if type(raw) == 'table' then
    refused = refused + 1
  elseif not raw or #raw ~= 1 and #ops > 0 then
    local create = not raw
    if create and redis.call('EXISTS', key) == 1 then
      redis.call('SET', k, 'F')
    else
      t = {raw = raw or '', seg = {}, ndirty = 0}
      local full = false
      for p = 1, #ops, 4 do
        local a, b, c, d = byte(ops, p, p + 3)
        local v = a + 256 * b + 65536 * c + 16777216 * d
        local rho = v % 64
        if rho == 0 or not add(floor(v / 64), rho) then
          full = true
          break
        end
      end
      if full then
        redis.call('SET', k, 'F', 'KEEPTTL')
      elseif create or t.ndirty > 16 or #t.raw < 16384 then
        local out = {}
        for b = 0, 511 do out[b + 1] = seg(b) end
        redis.call('SET', k, concat(out), 'KEEPTTL')
      else
        for b, s in pairs(t.seg) do redis.call('SETRANGE', k, 32 * b, s) end
      end
      t = nil
    end
  end
  for p = 1, #members, 16 * 1024 do
    local m = {}
    for q = p, math.min(p + 16 * 1024, #members + 1) - 1, 16 do m[#m + 1] = sub(members, q, q + 15) end
    local r = redis.pcall('PFADD', key, unpack(m))
    if type(r) == 'table' then
      refused = refused + 1
      break
    end
  end
end
return refused
`)

// SparseKey returns the key prefix+name of a HyperLogLog that has a
// companion (see [SparseSuffix]): the flusher gives the companion the
// expiry it gives the key. It allocates; keep the result.
func (s *Store) SparseKey(name string) Key {
	k := s.Key(name)
	k.sparse = true
	return k
}

// Event is the commands of one event for [Store.Push]: they are
// buffered, written and dropped together, and a drop counts one event.
// Build it on the stack, per event; the zero value is empty. It holds at
// most [MaxEventCommands] commands and ignores more.
type Event struct {
	rs [MaxEventCommands]record
	n  int
}

// MaxEventCommands is the most commands one [Event] holds.
const MaxEventCommands = 8

func (e *Event) add(r record) {
	if e.n < len(e.rs) {
		e.rs[e.n] = r
		e.n++
	}
}

// PFAdd adds PFADD k [Member](h) to the event, dropped when the same k and
// h are already waiting in the buffer.
func (e *Event) PFAdd(k Key, h uint64) {
	d := k.h*0x9e3779b97f4a7c15 ^ h
	if d == 0 {
		d = 1
	}
	e.add(record{key: k.name, v: int64(h), aux: d, op: opPFAdd, sparse: k.sparse})
}

// PFAddFull is [Event.PFAdd] for a key whose companion is full (the
// writer sent [Event.SparseFull], or read it): PFADD itself, not the
// script that writes a key and its companion together, which costs Redis
// more.
func (e *Event) PFAddFull(k Key, h uint64) {
	d := k.h*0x9e3779b97f4a7c15 ^ h
	if d == 0 {
		d = 1
	}
	e.add(record{key: k.name, v: int64(h), aux: d, op: opPFAdd, sparse: k.sparse, full: true})
}

// SparseAdd adds the fingerprint f with register value rho (see
// sketch.Fingerprint) to the companion of k, unless it is full.
func (e *Event) SparseAdd(k Key, f uint32, rho uint8) {
	if rho != 0 {
		e.add(record{key: k.name, v: int64(f)<<6 | int64(rho&63), op: opSparse, sparse: true})
	}
}

// SparseFull marks the companion of k full: readers count k with PFCOUNT
// from then on. A writer sends it when it stops writing fingerprints to k.
func (e *Event) SparseFull(k Key) {
	e.add(record{key: k.name, op: opSparse, sparse: true})
}

// Push buffers the commands of e as one event (see [Event]); an empty e
// makes no entry.
func (s *Store) Push(e *Event) {
	if s == nil || e.n == 0 {
		return
	}
	s.pushEvent(e.rs[:e.n])
}

// sparseCall is one sparseScript call of a batch: the keys with
// companions of one hash tag.
type sparseCall struct {
	keys    []string // companion, HyperLogLog key, …
	ops     [][]byte // of each pair: the operations on the companion
	members [][]byte // of each pair: the PFADD members of the key
	cmd     *redis.Cmd
}

// pair returns the call and the pair of the key of r, adding them when
// new: one call per hash tag, one pair per key, in the order of the batch.
func (sc *scratch) pair(r *record) (*sparseCall, int) {
	at, ok := sc.spKey[r.key]
	if !ok {
		tag := hashTag(r.key)
		c, ok := sc.spTag[tag]
		if !ok {
			c = len(sc.sparse)
			sc.spTag[tag] = c
			sc.sparse = append(sc.sparse, sparseCall{})
		}
		call := &sc.sparse[c]
		call.keys = append(call.keys, r.key+SparseSuffix, r.key)
		call.ops = append(call.ops, nil)
		call.members = append(call.members, nil)
		at = [2]int{c, len(call.ops) - 1}
		sc.spKey[r.key] = at
	}
	return &sc.sparse[at[0]], at[1]
}

// addSparse adds the operation of r to its pair.
func (sc *scratch) addSparse(r *record) {
	c, i := sc.pair(r)
	c.ops[i] = binary.LittleEndian.AppendUint32(c.ops[i], uint32(r.v))
}

// addMember adds the PFADD member of r to its pair.
func (sc *scratch) addMember(r *record) {
	c, i := sc.pair(r)
	c.members[i] = appendMember(c.members[i], uint64(r.v))
}

// args returns the arguments of c's script call.
func (c *sparseCall) args() []any {
	a := make([]any, 0, 2*len(c.ops))
	for i := range c.ops {
		a = append(a, c.ops[i], c.members[i])
	}
	return a
}

// hashTag returns the part of key that Redis Cluster hashes: the hash tag
// (from the first '{' to the next '}', when not empty) or the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}
