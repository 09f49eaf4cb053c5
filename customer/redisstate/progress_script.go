package redisstate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"

	"github.com/kpikit/kpikit/internal/redisstore"
	"github.com/kpikit/kpikit/internal/shared"
)

// This file holds the script that applies a shard's events to the
// attempts it keeps, and the flusher's round trip that calls it.
//
// The rules of an attempt come from the recorder: the rule table says,
// for each class of (steps reached, step, ended), whether an event is
// counted, reaches its step or ends the attempt; the script only
// classifies (see shared.RuleClass). The script keeps the time rule of
// place (an event before the start counts at the start; an attempt lasts
// [start, start+window)); whether an event may start an attempt is
// decided by the recorder: the event carries a row only then.

// progressScript applies the events of one shard. KEYS: the batch guard,
// the counts hash, then the users' keys (each followed, with entries by
// period, by the user's entries key). ARGV: batch sequence, window (µs),
// user-key TTL (ms), steps, count events (1/0), the rules (see
// shared.RuleClasses), the entry rules ("" without entries by period),
// the events, then the strings of the batch (row ids and error types).
// The events are 17-byte little-endian records (see progressRecord):
// index of the user's key in KEYS (uint16), step (uint8), event time in
// µs (int64), row index from 1, or 0 when the event cannot start an
// attempt (uint16), period (int32; see shared.Progress.PushEntry). A
// failure is a record whose step byte is 128 plus the step, or 255 for
// the furthest step reached, and whose row index names its error type; a
// step byte from steps to 127 is an exclusion, which applies to the
// entries only. The entries follow the rules of EntryRules, as
// customer/funnel_period.go applies them in memory.
//
// A user's attempt is the record (start µs int64, mask uint32, flags
// uint8), then, when flag 16 is set, the steps it is impaired at
// (uint32), then its row id. Flag 1 says the attempt ended. (A script
// without failures takes an impaired attempt's flags for a rule class it
// does not have, and leaves the attempt alone.) A failure impairs the
// attempt active at its time that did not end and reached a step: at a
// step once, counting "i" with its error type; the first time, "j" for
// every step the attempt reached, and then for each step it reaches.
//
// It returns {-1} for a batch already applied, otherwise (elapsed µs, row
// id) per completed attempt.
//
// Lua numbers are doubles, exact for µs up to 2^53. Counter increments
// are summed per call and written once per field.
var progressScript = redis.NewScript(`
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) <= last then return {-1} end
redis.call('SET', KEYS[1], ARGV[1], 'EX', 604800)
local window, ttl = tonumber(ARGV[2]), ARGV[3]
local n, events, rules = tonumber(ARGV[4]), ARGV[5] == '1', ARGV[6]
local conf, blob = ARGV[7], ARGV[8]
local band, bor, lshift, tobit = bit.band, bit.bor, bit.lshift, bit.tobit
local full = tobit(2 ^ n - 1)
local bitk = {}
for k = 0, 31 do bitk[k] = lshift(1, k) end
local cnt, reach, ends = {}, {}, {}
for c = 0, 9 do
  local a = string.byte(rules, c + 1) - 48
  cnt[c], reach[c], ends[c] = events and a % 2 == 1, a % 4 >= 2, a >= 4
end
local unpack5, pack3, sub = struct.unpack, struct.pack, string.sub
local cur = redis.call('MGET', unpack(KEYS, 3))
local S, M, E, R, NX, I, fresh, dirty = {}, {}, {}, {}, {}, {}, {}, {}
local out, inc, more = {}, {}, {}
local function add(f) more[f] = (more[f] or 0) + 1 end
-- Entries by period (conf not empty): "cut|order|ttl ms|horizon|from-to,...".
local entries = conf ~= ''
local ecut, eorder, ettl, ehorizon, width = 0, 0, '0', 0, 0
local excl, EN, edirty, pinc, qmax = {}, {}, {}, {}, nil
local emod = false -- an entry changed: its user's entries are written
local bnot = bit.bnot
if entries then
  local c, o, t, h, xs = string.match(conf, '^(%-?%d+)|(%d+)|(%d+)|(%d+)|(.*)$')
  ecut, eorder, ettl, ehorizon = tonumber(c), tonumber(o), t, tonumber(h)
  for a, b in string.gmatch(xs, '(%d+)-(%d+)') do excl[#excl + 1] = {tonumber(a), tonumber(b)} end
  width = n
  if eorder == 1 then width = 2 * n end
end
local wfmt = '<' .. string.rep('i8', width)
-- A user's entries: per entry, '<i4BBI4i8B' (period, level, flags: 1
-- furthest chain excluded, 2 final; excluded chains, start of the
-- furthest chain, row length), the row, then width '<i8' words (µs, -1
-- none). Entries of periods before the cut are dropped as they load.
local function eload(ki)
  local list = EN[ki]
  if list then return list end
  list = {}
  local v = cur[ki - 1]
  if v then
    local p = 1
    while p < #v do
      local b, rl = {e = {}}, 0
      b.q, b.lvl, b.fl, b.ex, b.mt, rl, p = unpack5('<i4BBI4i8B', v, p)
      b.row = sub(v, p, p + rl - 1)
      p = p + rl
      local w = {unpack5(wfmt, v, p)}
      for j = 0, width - 1 do b.e[j] = w[j + 1] end
      p = w[width + 1]
      b.ex = tobit(b.ex)
      if b.q >= ecut then list[#list + 1] = b else edirty[ki] = true end
    end
  end
  EN[ki] = list
  return list
end
local function contrib(b)
  if b.fl % 2 == 1 then return 0 end
  return b.lvl
end
local function setlvl(b, lvl, mt, ex)
  emod = true
  b.lvl, b.mt = lvl, mt
  b.fl = b.fl - b.fl % 2
  if ex then b.fl = b.fl + 1 end
end
local function estep(b, at, k, own)
  local e = b.e
  if k == 0 then
    if not own or at <= e[0] then return end
    e[0] = at
    b.ex = band(b.ex, bnot(1))
    emod = true
    if b.lvl < 1 or (b.lvl == 1 and b.fl % 2 == 1) then setlvl(b, 1, at, false) end
    return
  end
  local prev = e[k - 1]
  if prev < 0 or at < prev or at - prev > window or e[k] == prev then return end
  local ex = band(b.ex, bitk[k - 1]) ~= 0
  if not ex then
    e[k] = prev
    b.ex = band(b.ex, bnot(bitk[k]))
    emod = true
  end
  if k + 1 > b.lvl or (k + 1 == b.lvl and b.fl % 2 == 1) then setlvl(b, k + 1, prev, ex) end
end
local function eexclude(b, at, r)
  local e = b.e
  for k = r[2], r[1] + 1, -1 do
    local prev = e[k - 1]
    if prev >= 0 and at >= prev and at - prev <= window and e[k] ~= prev and band(b.ex, bitk[k - 1]) == 0 then
      b.ex = bor(b.ex, bitk[k - 1])
      emod = true
      if b.lvl == k and at >= b.mt and at - b.mt <= window and b.fl % 2 == 0 then b.fl = b.fl + 1 end
    end
  end
end
local function eany(b, at, k, own)
  local e = b.e
  if at > e[k] then e[k], emod = at, true end
  if own and at > e[n + k] then e[n + k], emod = at, true end
  local start = -1
  for j = 0, n - 1 do
    local t = e[n + j]
    if t >= 0 and t >= at - window and (start < 0 or t < start) then start = t end
  end
  if start < 0 then return end
  local lvl = 0
  for j = 0, n - 1 do
    local t = e[j]
    if t >= start and t - start <= window then lvl = lvl + 1 end
  end
  if lvl > b.lvl then setlvl(b, lvl, start, false) end
end
local function padd(f, d) pinc[f] = (pinc[f] or 0) + d end
-- eapply applies step k (x < 0) or exclusion x (k < 0), at time at (µs),
-- of an event in period q (-1-q: it may not enter) with row index ri, to
-- the entries of the user of KEYS[ki].
local function eapply(ki, at, k, x, q, ri)
  local list = eload(ki)
  emod = false
  local enter = q >= 0
  if not enter then q = -1 - q end
  if enter and k >= 0 and ri > 0 and (k == 0 or eorder == 1) then
    local found = false
    for _, b in ipairs(list) do
      if b.q == q then found = true break end
    end
    if not found then
      local b = {q = q, lvl = 0, fl = 0, ex = 0, mt = -1, row = ARGV[8 + ri], e = {}}
      for j = 0, width - 1 do b.e[j] = -1 end
      list[#list + 1] = b
      emod = true
      if qmax == nil or q > qmax then qmax = q end
    end
  end
  for _, b in ipairs(list) do
    if b.fl < 2 then
      local before, own = contrib(b), b.q == q
      if eorder == 1 then
        if k >= 0 then eany(b, at, k, own) end
      elseif x >= 0 then
        eexclude(b, at, excl[x + 1])
      else
        estep(b, at, k, own)
      end
      if eorder == 2 then
        local e = b.e
        for j = 0, n - 1 do
          if j ~= k and e[j] ~= -1 then e[j], emod = -1, true end
        end
        local ex = 0
        if k >= 0 then ex = band(b.ex, bitk[k]) end
        if ex ~= b.ex then b.ex, emod = ex, true end
      end
      local after = contrib(b)
      if after ~= before then
        emod = true
        if after == n and b.fl % 2 == 0 then b.fl = b.fl + 2 end
        for j = after, before - 1 do padd('p' .. b.q .. ':' .. j .. ':' .. b.row, -1) end
        for j = before, after - 1 do padd('p' .. b.q .. ':' .. j .. ':' .. b.row, 1) end
      end
    end
  end
  if emod then edirty[ki] = true end
end
local pos, len = 1, #blob
while pos < len do
  local ki, k, at, ri, q
  ki, k, at, ri, q, pos = unpack5('<HBi8Hi4', blob, pos)
  local eat = at
  local start = S[ki]
  if start == nil then
    local v = cur[ki - 2]
    if v then
      local mask, nx, fl
      start, mask, fl = unpack5('<i8I4B', v)
      mask = tobit(mask)
      nx = 0
      while band(mask, bitk[nx] or 0) ~= 0 do nx = nx + 1 end
      if fl >= 16 then
        I[ki], R[ki] = tobit((unpack5('<I4', v, 14))), sub(v, 18)
      else
        I[ki], R[ki] = false, sub(v, 14)
      end
      S[ki], M[ki], NX[ki], E[ki] = start, mask, nx, fl % 2
    else
      start = false
      S[ki] = false
    end
  end
  local active = false
  if start then
    if at < start then at = start end
    active = at - start < window
  end
  if k >= 128 then
    local mask = M[ki]
    if active and E[ki] == 0 and mask ~= 0 then
      local s = k - 128
      if s == 127 then
        s = 31
        while band(mask, bitk[s]) == 0 do s = s - 1 end
      end
      local im = I[ki]
      if not im or band(im, bitk[s]) == 0 then
        local arow = R[ki]
        if not im then
          for j = 0, n - 1 do
            if band(mask, bitk[j]) ~= 0 then add('j' .. j .. ':' .. arow) end
          end
          im = 0
        end
        I[ki], dirty[ki] = bor(im, bitk[s]), true
        local t = ARGV[8 + ri]
        add('i' .. s .. ':' .. #t .. ':' .. t .. arow)
      end
    end
  elseif k >= n then
    if entries then eapply(ki, eat, -1, k - n, q, 0) end
  else
    if not active and ri > 0 then
      start = at
      S[ki], M[ki], E[ki], NX[ki], R[ki], I[ki] = at, 0, 0, 0, ARGV[8 + ri], false
      fresh[ki], dirty[ki], active = true, true, true
    end
    if active then
      local mask, nx = M[ki], NX[ki]
      local class
      if k < nx - 1 then class = 0
      elseif k == nx - 1 then class = 2
      elseif k == nx then class = 4
      elseif band(mask, bitk[k]) ~= 0 then class = 8
      else class = 6 end
      class = class + E[ki]
      local arow = R[ki]
      if cnt[class] then
        local c = inc[arow]
        if not c then c = {} inc[arow] = c end
        local f = 2 * k + 1
        c[f] = (c[f] or 0) + 1
      end
      if reach[class] then
        mask = bor(mask, bitk[k])
        if k == nx then
          nx = nx + 1
          while band(mask, bitk[nx] or 0) ~= 0 do nx = nx + 1 end
          NX[ki] = nx
        end
        M[ki], dirty[ki] = mask, true
        local c = inc[arow]
        if not c then c = {} inc[arow] = c end
        local f = 2 * k
        c[f] = (c[f] or 0) + 1
        if I[ki] then add('j' .. k .. ':' .. arow) end
        if mask == full then
          out[#out + 1] = at - start
          out[#out + 1] = arow
        end
      end
      if ends[class] then E[ki], dirty[ki] = 1, true end
    end
    if entries then eapply(ki, eat, k, -1, q, ri) end
  end
end
for ki in pairs(dirty) do
  local m, im = M[ki], I[ki]
  if m < 0 then m = m + 4294967296 end
  local v
  if im then
    if im < 0 then im = im + 4294967296 end
    v = pack3('<i8I4BI4', S[ki], m, E[ki] + 16, im) .. R[ki]
  else
    v = pack3('<i8I4B', S[ki], m, E[ki]) .. R[ki]
  end
  if fresh[ki] then
    redis.call('SET', KEYS[ki], v, 'PX', ttl)
  else
    redis.call('SET', KEYS[ki], v, 'KEEPTTL')
  end
end
for arow, c in pairs(inc) do
  for f, v in pairs(c) do
    local kind = f % 2 == 0 and 'u' or 'e'
    redis.call('HINCRBY', KEYS[2], kind .. math.floor(f / 2) .. ':' .. arow, v)
  end
end
for f, v in pairs(more) do
  redis.call('HINCRBY', KEYS[2], f, v)
end
for ki in pairs(edirty) do
  local list = EN[ki]
  if #list == 0 then
    redis.call('DEL', KEYS[ki + 1])
  else
    local parts = {}
    for _, b in ipairs(list) do
      local ex = b.ex
      if ex < 0 then ex = ex + 4294967296 end
      parts[#parts + 1] = pack3('<i4BBI4i8B', b.q, b.lvl, b.fl, ex, b.mt, #b.row) .. b.row
      parts[#parts + 1] = pack3(wfmt, unpack(b.e, 0, width - 1))
    end
    redis.call('SET', KEYS[ki + 1], table.concat(parts), 'PX', ettl)
  end
end
for f, v in pairs(pinc) do
  -- A change that nets to zero still creates the field, so that the
  -- row is reported for its period at 0, as in memory.
  redis.call('HINCRBY', KEYS[2], f, v)
end
if qmax ~= nil then
  -- A new latest entry period deletes the counts a horizon older.
  local top = tonumber(redis.call('HGET', KEYS[2], 'ptop') or '')
  if top == nil or qmax > top then
    redis.call('HSET', KEYS[2], 'ptop', qmax)
    for _, f in ipairs(redis.call('HKEYS', KEYS[2])) do
      local fq = tonumber(string.match(f, '^p(%-?%d+):') or '')
      if fq ~= nil and fq <= qmax - ehorizon then redis.call('HDEL', KEYS[2], f) end
    end
  end
end
return out
`)

// progressRecord is the size of an event record of progressScript.
const progressRecord = 17

// split sorts batch b into its shards' parts.
func (p *progress) split(b []pevent) {
	for i := range p.parts {
		pt := &p.parts[i]
		pt.events, pt.done = pt.events[:0], false
	}
	for _, e := range b {
		pt := &p.parts[shardOf(e.h)]
		pt.events = append(pt.events, e)
		if !e.impair {
			p.latest = max(p.latest, e.at)
		}
	}
	for i := range p.parts {
		pt := &p.parts[i]
		pt.done = len(pt.events) == 0
		if !pt.done {
			p.build(i, pt)
		}
	}
}

// build makes the keys and arguments of part pt of shard i.
func (p *progress) build(i int, pt *progressShard) {
	base := p.bases[i]
	keys := append(pt.keys[:0], base+"seq:"+p.instance, base+"counts")
	clear(p.keyIdx)
	clear(p.rowIdx)
	blob := make([]byte, 0, progressRecord*len(pt.events))
	conf := ""
	if p.entries != nil {
		// The cut: entries of periods before it are dropped.
		conf = strconv.FormatInt(p.entries.PeriodOf(max(p.latest-2*int64(p.windowUS)*1e3, 0)), 10) + "|" + p.entryConf
	}
	args := append(pt.args[:0], p.seq, p.windowUS, p.ttlMS, p.steps, boolArg(p.events), p.rules, conf, nil)
	for _, e := range pt.events {
		ki, ok := p.keyIdx[e.h]
		if !ok {
			m := redisstore.Member(e.h)
			keys = append(keys, base+"u:"+m)
			ki = len(keys)
			p.keyIdx[e.h] = ki
			if p.entries != nil {
				keys = append(keys, base+"e:"+m)
			}
		}
		str, k := e.row, byte(e.k)
		if e.impair {
			str, k = p.typeName(e.typ), 128|k
			if e.k == shared.ImpairFurthest {
				k = 255
			}
		}
		ri := 0
		if str != "" {
			if ri = p.rowIdx[str]; ri == 0 {
				args = append(args, str)
				ri = len(p.rowIdx) + 1
				p.rowIdx[str] = ri
			}
		}
		blob = binary.LittleEndian.AppendUint16(blob, uint16(ki))
		blob = append(blob, k)
		blob = binary.LittleEndian.AppendUint64(blob, uint64(e.at/1e3))
		blob = binary.LittleEndian.AppendUint16(blob, uint16(ri))
		blob = binary.LittleEndian.AppendUint32(blob, uint32(e.q))
	}
	args[7] = blob
	pt.keys, pt.args = keys, args
}

// otherType names an error type the funnel does not name.
const otherType = "_OTHER"

// typeName is the name of error type i: never empty.
func (p *progress) typeName(i uint8) string {
	if p.errorType == nil {
		return otherType
	}
	if t := p.errorType(int(i)); t != "" {
		return t
	}
	return otherType
}

// pending is the number of events of the batch Redis has not applied.
func (p *progress) pending() int {
	n := 0
	for i := range p.parts {
		if !p.parts[i].done {
			n += len(p.parts[i].events)
		}
	}
	return n
}

// send applies the parts of the batch not yet applied, in one pipeline
// bounded by progressRoundTrip and, once Shutdown began, by its deadline
// (a cancelled context does not end a read in flight; a deadline does),
// and reports the attempts they completed. A part Redis refuses for good
// is reported and counted as lost. It returns the first error of a part
// that may be retried.
func (p *progress) send(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, progressRoundTrip)
	defer cancel()
	if d := p.stopBy.Load(); d != 0 {
		var cancelStop context.CancelFunc
		ctx, cancelStop = context.WithDeadline(ctx, time.Unix(0, d))
		defer cancelStop()
	}
	for loaded := false; ; loaded = true {
		pipe := p.client.Pipeline()
		for i := range p.parts {
			if pt := &p.parts[i]; !pt.done {
				pt.cmd = progressScript.EvalSha(ctx, pipe, pt.keys, pt.args...)
			}
		}
		_, _ = pipe.Exec(ctx)
		var retry error
		noScript := false
		for i := range p.parts {
			pt := &p.parts[i]
			if pt.done {
				continue
			}
			res, err := pt.cmd.Slice()
			pt.cmd = nil
			switch {
			case err == nil:
				pt.done = true
				p.report(res)
			case redis.HasErrorPrefix(err, "NOSCRIPT"):
				noScript = true
			case redisstore.Permanent(err):
				pt.done = true
				otel.Handle(fmt.Errorf("redisstate: %s: Redis refused %d events: %w", p.name, len(pt.events), err))
				p.lost.Add(context.Background(), int64(len(pt.events)))
			case retry == nil:
				retry = err
			}
		}
		if !noScript || loaded {
			if noScript && retry == nil {
				retry = errors.New("script not loaded")
			}
			return retry
		}
		if err := progressScript.Load(ctx, p.client).Err(); err != nil {
			return err
		}
	}
}

// report hands the attempts a script call completed to the recorder.
func (p *progress) report(res []any) {
	if p.completed == nil {
		return
	}
	for i := 0; i+1 < len(res); i += 2 {
		us, _ := res[i].(int64)
		row, _ := res[i+1].(string)
		if us >= 0 {
			p.completed(row, time.Duration(us)*time.Microsecond)
		}
	}
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
