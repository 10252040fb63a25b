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

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_REDIS_SCRIPTS_H_
