package redisstore

import "github.com/redis/go-redis/v9"

// Lua scripts. Each touches only keys of one hash tag — one terminal ({TID}), one merchant
// ({MID}) or one SN ({SN}) — so each runs atomically on one Cluster slot. Failures are error
// replies "PG_<WHAT> [detail]" that scriptErr maps to the package's errors. Scripts that change
// a terminal return its HGETALL, so a write costs one round trip (EVALSHA, with EVAL fallback).

// createHash: KEYS[1] record; ARGV field/value pairs. PG_EXISTS if the record exists.
var createHash = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('PG_EXISTS') end
redis.call('HSET', KEYS[1], unpack(ARGV))
return redis.call('HGETALL', KEYS[1])
`)

// updateHash: KEYS[1] record; ARGV[1] expected revision, ARGV[2] update time, then field/value
// pairs. Compare-and-set on the revision.
var updateHash = redis.NewScript(`
local rev = redis.call('HGET', KEYS[1], 'rev')
if not rev then return redis.error_reply('PG_NOTFOUND') end
if rev ~= ARGV[1] then return redis.error_reply('PG_CONFLICT') end
redis.call('HSET', KEYS[1], 'mtime', ARGV[2], unpack(ARGV, 3))
redis.call('HINCRBY', KEYS[1], 'rev', 1)
return redis.call('HGETALL', KEYS[1])
`)

// setSN: KEYS[1] terminal, KEYS[2] its code; ARGV[1] new SN ("" to unbind), ARGV[2] time.
// A different SN replaces the device: code dropped, keys cleared, active → pending.
// Returns {old SN, HGETALL...}.
var setSN = redis.NewScript(`
local t = redis.call('HMGET', KEYS[1], 'rev', 'sn', 'st')
if not t[1] then return redis.error_reply('PG_NOTFOUND') end
local old = t[2] or ''
if old ~= ARGV[1] then
  local st = t[3]
  if st == 'active' then st = 'pending' end
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'sn', ARGV[1], 'tmk', '', 'pik', '', 'mak', '', 'tdk', '', 'sseq', '0', 'st', st, 'mtime', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'rev', 1)
end
local r = redis.call('HGETALL', KEYS[1])
table.insert(r, 1, old)
return r
`)

// dropSN: KEYS[1] terminal; ARGV[1] SN, ARGV[2] time. Clears the SN if it is still ARGV[1]
// (compensation when a bind lost the SN index to a concurrent take-over).
var dropSN = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'sn') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'sn', '', 'mtime', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'rev', 1)
  return 1
end
return 0
`)

// block: KEYS[1] terminal; ARGV[1] reason ("" to unblock), ARGV[2] time.
var block = redis.NewScript(`
local t = redis.call('HMGET', KEYS[1], 'rev', 'st', 'tmk', 'rsn')
if not t[1] then return redis.error_reply('PG_NOTFOUND') end
if ARGV[1] ~= '' then
  if t[2] ~= 'blocked' or t[4] ~= ARGV[1] then
    redis.call('HSET', KEYS[1], 'st', 'blocked', 'rsn', ARGV[1], 'mtime', ARGV[2])
    redis.call('HINCRBY', KEYS[1], 'rev', 1)
  end
elseif t[2] == 'blocked' then
  local st = 'pending'
  if t[3] ~= '' then st = 'active' end
  redis.call('HSET', KEYS[1], 'st', st, 'rsn', '', 'mtime', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'rev', 1)
end
return redis.call('HGETALL', KEYS[1])
`)

// issueCode: KEYS[1] terminal, KEYS[2] code; ARGV[1] TID, ARGV[2] verifier, ARGV[3] issue time,
// ARGV[4] expiry. Replaces any code and resets the proof count and delay.
var issueCode = redis.NewScript(`
local t = redis.call('HMGET', KEYS[1], 'rev', 'sn', 'st', 'rsn')
if not t[1] then return redis.error_reply('PG_NOTFOUND') end
if not t[2] or t[2] == '' then return redis.error_reply('PG_NOSN') end
if t[3] == 'blocked' then return redis.error_reply('PG_STATUS blocked ' .. t[4]) end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'tid', ARGV[1], 'sn', t[2], 'ver', ARGV[2], 'iss', ARGV[3], 'exp', ARGV[4], 'spent', '0', 'wrong', '0', 'lock', '0')
return redis.call('HGETALL', KEYS[2])
`)

// getCode: KEYS[1] terminal, KEYS[2] code; ARGV[1] SN. The code, if it was issued to the SN
// the terminal still holds.
var getCode = redis.NewScript(`
local sn = redis.call('HGET', KEYS[1], 'sn')
if not sn or sn ~= ARGV[1] or redis.call('HGET', KEYS[2], 'sn') ~= ARGV[1] then
  return redis.error_reply('PG_NOTFOUND')
end
return redis.call('HGETALL', KEYS[2])
`)

// claimProof: KEYS[1] terminal, KEYS[2] code; ARGV[1] SN, ARGV[2] now, ARGV[3] free proofs,
// ARGV[4] first delay, ARGV[5] maximum delay (microseconds). Counts a proof before it is
// checked and sets the next proof's earliest time (terminal.ProofDelay). Returns the code.
var claimProof = redis.NewScript(`
local sn = redis.call('HGET', KEYS[1], 'sn')
local c = redis.call('HMGET', KEYS[2], 'sn', 'wrong', 'spent', 'exp', 'lock')
if not sn or sn ~= ARGV[1] or c[1] ~= ARGV[1] then return redis.error_reply('PG_NOTFOUND') end
local now = tonumber(ARGV[2])
if tonumber(c[5] or '0') > now then return redis.error_reply('PG_LOCKED') end
if c[3] ~= '0' then return redis.error_reply('PG_SPENT') end
if tonumber(c[4]) <= now then return redis.error_reply('PG_EXPIRED') end
local n = redis.call('HINCRBY', KEYS[2], 'wrong', 1)
local lock = 0
if n > tonumber(ARGV[3]) then
  local d = tonumber(ARGV[4])
  local i = tonumber(ARGV[3]) + 1
  while i < n and d < tonumber(ARGV[5]) do d = d * 2; i = i + 1 end
  if d > tonumber(ARGV[5]) then d = tonumber(ARGV[5]) end
  lock = now + d
end
redis.call('HSET', KEYS[2], 'lock', string.format('%d', lock))
return redis.call('HGETALL', KEYS[2])
`)

// unlockCode: KEYS[1] code. Resets the proof count and delay.
var unlockCode = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('PG_NOTFOUND') end
redis.call('HSET', KEYS[1], 'wrong', '0', 'lock', '0')
return redis.call('HGETALL', KEYS[1])
`)

// activate: KEYS[1] terminal, KEYS[2] code; ARGV[1] SN, ARGV[2] verifier, ARGV[3] TMK,
// ARGV[4] now. Spends the code and installs the TMK (the caller's proof was claimed, so the
// proof delay does not apply).
var activate = redis.NewScript(`
local t = redis.call('HMGET', KEYS[1], 'sn', 'st', 'rsn')
local c = redis.call('HMGET', KEYS[2], 'sn', 'spent', 'exp', 'ver')
if not t[1] or t[1] ~= ARGV[1] or c[1] ~= ARGV[1] then return redis.error_reply('PG_NOTFOUND') end
if c[2] ~= '0' then return redis.error_reply('PG_SPENT') end
if tonumber(c[3]) <= tonumber(ARGV[4]) then return redis.error_reply('PG_EXPIRED') end
if c[4] ~= ARGV[2] then return redis.error_reply('PG_CONFLICT') end
if t[2] == 'blocked' then return redis.error_reply('PG_STATUS blocked ' .. t[3]) end
redis.call('HSET', KEYS[2], 'spent', ARGV[4], 'wrong', '0', 'lock', '0')
redis.call('HSET', KEYS[1], 'tmk', ARGV[3], 'pik', '', 'mak', '', 'tdk', '', 'sseq', '0', 'st', 'active', 'rsn', '', 'mtime', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'rev', 1)
return redis.call('HGETALL', KEYS[1])
`)

// rotateKeys: KEYS[1] terminal; ARGV[1] expected generation, ARGV[2..4] PIK, MAK, TDK,
// ARGV[5] now, ARGV[6] the sign-on's sequence number (terminal.SignOnFresh: exact in a
// double, the numbers stay below 10^12).
var rotateKeys = redis.NewScript(`
local t = redis.call('HMGET', KEYS[1], 'rev', 'st', 'rsn', 'kgen', 'sseq')
if not t[1] then return redis.error_reply('PG_NOTFOUND') end
if t[2] ~= 'active' then return redis.error_reply('PG_STATUS ' .. t[2] .. ' ' .. t[3]) end
if t[4] ~= ARGV[1] then return redis.error_reply('PG_CONFLICT') end
local space = 1000000000000
local last = tonumber(t[5] or '0') or 0
local nxt = tonumber(ARGV[6])
if last ~= 0 then
  local d = (nxt + space - last % space) % space
  if d <= 0 or d >= space / 2 then return redis.error_reply('PG_STALE') end
end
redis.call('HSET', KEYS[1], 'pik', ARGV[2], 'mak', ARGV[3], 'tdk', ARGV[4], 'force', '0', 'signon', ARGV[5], 'sseq', ARGV[6])
redis.call('HINCRBY', KEYS[1], 'kgen', 1)
return redis.call('HGETALL', KEYS[1])
`)

// advanceBatch: KEYS[1] terminal; ARGV[1] expected batch, ARGV[2] next. Returns the batch.
var advanceBatch = redis.NewScript(`
local b = redis.call('HGET', KEYS[1], 'batch')
if not b then return redis.error_reply('PG_NOTFOUND') end
if b ~= ARGV[1] then return redis.error_reply('PG_CONFLICT ' .. b) end
redis.call('HSET', KEYS[1], 'batch', ARGV[2])
return ARGV[2]
`)

// seen: KEYS[1] terminal; ARGV[1] now, ARGV[2] software version ("" keeps it).
var seen = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('PG_NOTFOUND') end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'swv', ARGV[2]) end
redis.call('HSET', KEYS[1], 'seen', ARGV[1])
return 1
`)

// SN index. The value is the holder's TID (exactly 8 bytes) + ":" + the bind's start time in
// Unix milliseconds, so an entry left by a crashed bind can be recognised as stale.

// reserveSN: KEYS[1] SN index; ARGV[1] new value, ARGV[2] TID. Sets the entry if absent or
// already this TID's; returns "" then, otherwise the current value.
var reserveSN = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v or string.sub(v, 1, 8) == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1])
  return ''
end
return v
`)

// takeOverSN: KEYS[1] SN index; ARGV[1] the stale value seen, ARGV[2] new value. Returns 1 if
// the entry still held the stale value and was replaced.
var takeOverSN = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
`)

// releaseSN: KEYS[1] SN index; ARGV[1] TID. Deletes the entry if this TID holds it.
var releaseSN = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 8) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`)
