package redisstore

import "github.com/redis/go-redis/v9"

// applyScript is bayes.ApplyChange on the server (Bayes.pm _learn_trapped,
// _forget_trapped). KEYS: nspam, nham, the seen hash of earlier versions,
// the seen key of each message id, then the message's token keys; ARGV:
// class ("s", "h", "" to forget), no-relearn ("1" or "0"), atime, token
// TTL and seen TTL (seconds, 0 for none), the number of ids, then the
// message ids, most specific first. It returns the bayes.Outcome: 1
// learned, 2 already, 3 moved, 4 forgotten, 5 not learned.
//
// Every token is read before anything is written, so a malformed value
// fails the change with nothing changed. Counts are clamped at zero and at
// 2^32-1, totals at zero, atimes never move back, and a token whose counts
// both reach zero is deleted (bayes.Counts.Add). Every token written gets
// the token TTL again, as Redis.pm multi_tok_count_change renews it.
var applyScript = redis.NewScript(`
local class, norelearn, atime = ARGV[1], ARGV[2] == '1', tonumber(ARGV[3])
local tokttl, seenttl, nids = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local MAXC = 4294967295
local T = 4 + nids -- first token key

local seenid, seenkey, seen
for i = 1, nids do
  local id = ARGV[6 + i]
  if id ~= '' then
    local c = redis.call('GET', KEYS[3 + i])
    if not c then c = redis.call('HGET', KEYS[3], id) end
    if c then
      if c ~= 's' and c ~= 'h' then
        return redis.error_reply('bayes: bad format: seen entry ' .. id)
      end
      seenid, seenkey, seen = id, KEYS[3 + i], c
      break
    end
  end
end
if class == '' and not seenid then return 5 end
if seenid and (seen == class or norelearn) then return 2 end

local function clamp(v, max)
  if v < 0 then return 0 end
  if max and v > max then return max end
  return v
end

local nspam = tonumber(redis.call('GET', KEYS[1]) or '0')
local nham = tonumber(redis.call('GET', KEYS[2]) or '0')
if not nspam or not nham then return redis.error_reply('bayes: bad format: totals') end
local sp, hm, at, ex = {}, {}, {}, {}
for i = T, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v then
    local s, h, a = string.match(v, '^(%d+) (%d+) (%-?%d+)$')
    if not s then return redis.error_reply('bayes: bad format: token value ' .. v) end
    sp[i], hm[i], at[i], ex[i] = tonumber(s), tonumber(h), tonumber(a), true
  else
    sp[i], hm[i], at[i], ex[i] = 0, 0, 0, false
  end
end

-- change adds ds spam and dh ham to the totals and every token; a removal
-- skips tokens that do not exist.
local function change(ds, dh, t)
  nspam, nham = clamp(nspam + ds), clamp(nham + dh)
  for i = T, #KEYS do
    if ex[i] or (ds >= 0 and dh >= 0) then
      sp[i], hm[i] = clamp(sp[i] + ds, MAXC), clamp(hm[i] + dh, MAXC)
      if t > at[i] then at[i] = t end
      ex[i] = sp[i] > 0 or hm[i] > 0
      if not ex[i] then at[i] = 0 end
    end
  end
end

local out
if seenid then
  if seen == 's' then change(-1, 0, 0) else change(0, -1, 0) end
  redis.call('DEL', seenkey)
  redis.call('HDEL', KEYS[3], seenid)
  out = 4
  if class ~= '' then out = 3 end
else
  out = 1
end
if class == 's' then change(1, 0, atime) elseif class == 'h' then change(0, 1, atime) end
if class ~= '' then
  if seenttl > 0 then
    redis.call('SET', KEYS[4], class, 'EX', seenttl)
  else
    redis.call('SET', KEYS[4], class)
  end
end

redis.call('SET', KEYS[1], string.format('%d', nspam))
redis.call('SET', KEYS[2], string.format('%d', nham))
for i = T, #KEYS do
  if ex[i] then
    local v = string.format('%d %d %d', sp[i], hm[i], at[i])
    if tokttl > 0 then
      redis.call('SET', KEYS[i], v, 'EX', tokttl)
    else
      redis.call('SET', KEYS[i], v)
    end
  else
    redis.call('DEL', KEYS[i])
  end
end
return out
`)

// touchScript raises the atime of the token keys in KEYS that exist to
// ARGV[1]; it never lowers one nor creates a token (BayesStore
// tok_touch_token). With a token TTL (ARGV[2], seconds) every existing
// key gets it again, as Redis.pm tok_touch_all does; without, a key keeps
// the TTL it has.
var touchScript = redis.NewScript(`
local t, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v then
    local s, h, a = string.match(v, '^(%d+) (%d+) (%-?%d+)$')
    if s and t > tonumber(a) then
      redis.call('SET', KEYS[i], s .. ' ' .. h .. ' ' .. string.format('%d', t), 'KEEPTTL')
    end
    if ttl > 0 then redis.call('EXPIRE', KEYS[i], ttl) end
  end
end
return 0
`)
