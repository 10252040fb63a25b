// The Lua scripts control's Redis engine runs: each is one atomic step on
// one channel's keys (which share a hash tag, so Redis Cluster can hold them
// on one node).
#ifndef WIREHUB_CONTROL_REDIS_SCRIPTS_H_
#define WIREHUB_CONTROL_REDIS_SCRIPTS_H_

#include <string_view>

namespace wirehub::control {

// kPublishScript sequences one publication.
//
// KEYS: 1 the stream's meta hash (e: epoch, o: last offset, r: the Redis
//       run_id the epoch belongs to), 2 its history stream, 3 the
//       idempotency key's string.
// ARGV: 1 run_id of the Redis this was sent to, 2 an epoch to start if the
//       stream needs a new one, 3 history size (0: keep none), 4 history ttl
//       (ms), 5 stream ttl (ms), 6 idempotency window (ms; 0: no key),
//       7 the pub/sub channel, 8 the publication (serialized
//       edge.v1.Publication without offset and epoch).
// Returns {epoch, offset, replayed (0/1)}.
//
// The epoch belongs to one run of Redis: a stream whose meta names another
// run_id (Redis restarted, possibly losing its last writes under
// `appendfsync everysec`, or failed over to a replica that lagged) starts a
// new epoch, so an offset is never handed out twice within one epoch.
//
// History entries are "0-<offset>" with fields t (Redis time, ms) and d
// (the publication); the pub/sub message is "<offset>:<epoch>:<publication>".
inline constexpr std::string_view kPublishScript = R"lua(
if ARGV[6] ~= '0' then
  local seen = redis.call('GET', KEYS[3])
  if seen then
    local sep = string.find(seen, ':', 1, true)
    return {string.sub(seen, sep + 1), tonumber(string.sub(seen, 1, sep - 1)), 1}
  end
end
local meta = redis.call('HMGET', KEYS[1], 'e', 'o', 'r')
local epoch = meta[1]
if not epoch or meta[3] ~= ARGV[1] then
  epoch = ARGV[2]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0, 'r', ARGV[1])
end
local offset = redis.call('HINCRBY', KEYS[1], 'o', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if tonumber(ARGV[3]) > 0 then
  local now = redis.call('TIME')
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], '0-' .. offset,
             't', now[1] * 1000 + math.floor(now[2] / 1000), 'd', ARGV[8])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
if ARGV[6] ~= '0' then
  redis.call('SET', KEYS[3], offset .. ':' .. epoch, 'PX', ARGV[6])
end
redis.call('SPUBLISH', ARGV[7], offset .. ':' .. epoch .. ':' .. ARGV[8])
return {epoch, offset, 0}
)lua";

// kReadScript reads a stream's position and history.
//
// KEYS: 1 meta hash, 2 history stream (as kPublishScript).
// ARGV: 1 run_id, 2 an epoch to start if the stream needs a new one,
//       3 stream ttl (ms), 4 history ttl (ms), 5 read after this offset,
//       6 limit (negative: all; 0: only the position), 7 "1": newest first.
// Returns {epoch, last offset, {offset, publication, offset, ...}}.
//
// A stream without a position (or of another run) gets one here, so readers
// and the next publish agree on the epoch. Entries older than the history
// ttl are trimmed first (they are in time order).
inline constexpr std::string_view kReadScript = R"lua(
local meta = redis.call('HMGET', KEYS[1], 'e', 'o', 'r')
if not meta[1] or meta[3] ~= ARGV[1] then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', ARGV[2], 'o', 0, 'r', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {ARGV[2], 0, {}}
end
local limit = tonumber(ARGV[6])
if limit == 0 then return {meta[1], tonumber(meta[2]), {}} end
local now = redis.call('TIME')
local cutoff = now[1] * 1000 + math.floor(now[2] / 1000) - tonumber(ARGV[4])
while true do
  local head = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 64)
  if #head == 0 then break end
  local keep = nil
  for _, entry in ipairs(head) do
    if tonumber(entry[2][2]) >= cutoff then
      keep = entry[1]
      break
    end
  end
  if keep then
    redis.call('XTRIM', KEYS[2], 'MINID', keep)
    break
  end
  local last = tonumber(string.sub(head[#head][1], 3))
  redis.call('XTRIM', KEYS[2], 'MINID', '0-' .. (last + 1))
end
local entries
local after = '(0-' .. ARGV[5]
if ARGV[7] == '1' then
  if limit > 0 then
    entries = redis.call('XREVRANGE', KEYS[2], '+', after, 'COUNT', limit)
  else
    entries = redis.call('XREVRANGE', KEYS[2], '+', after)
  end
elseif limit > 0 then
  entries = redis.call('XRANGE', KEYS[2], after, '+', 'COUNT', limit)
else
  entries = redis.call('XRANGE', KEYS[2], after, '+')
end
local out = {}
for _, entry in ipairs(entries) do
  out[#out + 1] = string.sub(entry[1], 3)
  out[#out + 1] = entry[2][4]
end
return {meta[1], tonumber(meta[2]), out}
)lua";

// The presence scripts share this prelude.
//
// KEYS: 1 entries hash (client -> "LEN:USER" followed by the ClientInfo),
//       2 deadlines sorted set (client -> expiry, ms of Redis time),
//       3 users hash (user -> entries).
// ARGV: 1 channel key, 2 its pub/sub channel, 3 "1": announce joins and
//       leaves (the namespace has join_leave), then the script's own.
//
// Joins and leaves go out on the channel's pub/sub channel as
// "0::<edge.v1.Publication with channel and join (field 6) or leave (7)>",
// encoded here, so every replica receives them in order with the channel's
// publications. Each script first expires (at most 256) entries whose
// deadline passed, announcing their leaves.
inline constexpr std::string_view kPresencePrelude = R"lua(
local function varint(n)
  local out = ''
  while n >= 128 do
    out = out .. string.char(n % 128 + 128)
    n = math.floor(n / 128)
  end
  return out .. string.char(n)
end
local function announce(tag, info)
  if ARGV[3] == '1' then
    redis.call('SPUBLISH', ARGV[2],
               '0::\n' .. varint(#ARGV[1]) .. ARGV[1] .. tag .. varint(#info) .. info)
  end
end
local function drop(client, value)
  redis.call('HDEL', KEYS[1], client)
  redis.call('ZREM', KEYS[2], client)
  local colon = string.find(value, ':', 1, true)
  local length = tonumber(string.sub(value, 1, colon - 1))
  local user = string.sub(value, colon + 1, colon + length)
  if redis.call('HINCRBY', KEYS[3], user, -1) <= 0 then redis.call('HDEL', KEYS[3], user) end
  announce(':', string.sub(value, colon + length + 1))
end
local time = redis.call('TIME')
local now = time[1] * 1000 + math.floor(time[2] / 1000)
for _, client in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 256)) do
  local value = redis.call('HGET', KEYS[1], client)
  if value then drop(client, value) else redis.call('ZREM', KEYS[2], client) end
end
)lua";

// kPresenceAddScript adds or refreshes one entry. ARGV: 4 ttl (ms),
// 5 client, 6 user, 7 ClientInfo. Returns 1 when the client is new (a join).
inline constexpr std::string_view kPresenceAddScript = R"lua(
local ttl = tonumber(ARGV[4])
local new = redis.call('HSET', KEYS[1], ARGV[5], #ARGV[6] .. ':' .. ARGV[6] .. ARGV[7])
redis.call('ZADD', KEYS[2], now + ttl, ARGV[5])
if new == 1 then
  redis.call('HINCRBY', KEYS[3], ARGV[6], 1)
  announce('2', ARGV[7])
end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], 2 * ttl) end
return new
)lua";

// kPresenceRemoveScript removes one entry. ARGV: 4 client. Returns 1 when
// it was there (a leave).
inline constexpr std::string_view kPresenceRemoveScript = R"lua(
local value = redis.call('HGET', KEYS[1], ARGV[4])
if not value then return 0 end
drop(ARGV[4], value)
return 1
)lua";

// kPresenceReadScript reads the channel's presence. ARGV: 4 "count":
// {clients, users}; anything else: the entries hash (client, value, ...).
inline constexpr std::string_view kPresenceReadScript = R"lua(
if ARGV[4] == 'count' then
  return {redis.call('HLEN', KEYS[1]), redis.call('HLEN', KEYS[3])}
end
return redis.call('HGETALL', KEYS[1])
)lua";

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_REDIS_SCRIPTS_H_
