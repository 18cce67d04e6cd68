-- KEYS: beats, beats seen. ARGV: owner, the beat as JSON, its last pass (ms), the cutoff (ms).
-- Records the beat, then forgets every beat whose last pass is before the cutoff. Returns how
-- many were forgotten.
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[4])
for _, owner in ipairs(stale) do
  redis.call('HDEL', KEYS[1], owner)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[4])
return #stale
