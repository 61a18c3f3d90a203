package redisstate

import "github.com/redis/go-redis/v9"

// Lua scripts. Each names every key it touches in KEYS, and all of them share one hash tag
// ({TID}), so each runs atomically on one Cluster slot. Lua strings are binary-safe: hashes and
// response frames pass through unchanged.
//
// A retransmission entry is one string: a state byte ('B' reserved, 'D' done), the 16-byte
// content hash, then the response frame (empty while reserved).

// reserveScript: KEYS[1] entry; ARGV[1] hash, ARGV[2] ttl in ms.
// Returns 1 (new: reserved now), 3 (busy), 4 (conflict) or the stored response (a string: done).
var reserveScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], 'B' .. ARGV[1], 'PX', ARGV[2])
  return 1
end
if string.sub(v, 2, 17) ~= ARGV[1] then return 4 end
if string.sub(v, 1, 1) == 'B' then return 3 end
return string.sub(v, 18)
`)

// completeScript: KEYS[1] entry; ARGV[1] response, ARGV[2] ttl in ms. Keeps the entry's hash;
// without an entry the hash is 16 zero bytes.
var completeScript = redis.NewScript(`
local h = redis.call('GETRANGE', KEYS[1], 1, 16)
if string.len(h) ~= 16 then h = string.rep('\0', 16) end
redis.call('SET', KEYS[1], 'D' .. h .. ARGV[1], 'PX', ARGV[2])
return 1
`)

// restoreScript: KEYS[1] entry; ARGV[1] hash, ARGV[2] response, ARGV[3] ttl in ms. Keeps a
// stored response; replaces a reservation or nothing.
var restoreScript = redis.NewScript(`
if redis.call('GETRANGE', KEYS[1], 0, 0) == 'D' then return 0 end
redis.call('SET', KEYS[1], 'D' .. ARGV[1] .. ARGV[2], 'PX', ARGV[3])
return 1
`)

// releaseScript: KEYS[1] entry. Deletes it only while it is a reservation, never a response.
var releaseScript = redis.NewScript(`
if redis.call('GETRANGE', KEYS[1], 0, 0) == 'B' then redis.call('DEL', KEYS[1]) end
return 1
`)

// putTxnScript: KEYS[1] record; ARGV[1] version, ARGV[2] encoded record, ARGV[3] ttl in ms.
// Returns 1, or 0 when the record exists.
var putTxnScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

// updateTxnScript: KEYS[1] record; ARGV[1] expected version, ARGV[2] new version, ARGV[3]
// encoded record. Compare-and-set on the version; HSET keeps the key's expiry.
// Returns 1, 0 (not found) or -1 (conflict).
var updateTxnScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return 0 end
if v ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
return 1
`)

// addTotalsScript: KEYS[1] totals, KEYS[2] entry ids; ARGV[1] entry id, ARGV[2..5] deltas
// (debit amount, debit count, credit amount, credit count), ARGV[6] ttl in ms. Adds only when
// the id is new; returns the totals.
var addTotalsScript = redis.NewScript(`
if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'da', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'dc', ARGV[3])
  redis.call('HINCRBY', KEYS[1], 'ca', ARGV[4])
  redis.call('HINCRBY', KEYS[1], 'cc', ARGV[5])
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
end
return redis.call('HMGET', KEYS[1], 'da', 'dc', 'ca', 'cc')
`)
