-- KEYS: leases, due, unscheduled. ARGV: now ms, entry-key prefix. Returns the ids put back in
-- the index.
local leases, due, unscheduled = KEYS[1], KEYS[2], KEYS[3]
local ids = redis.call('ZRANGEBYSCORE', leases, '-inf', ARGV[1])
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZREM', leases, id)
  redis.call('SREM', unscheduled, id)
  local key = ARGV[2] .. id
  if redis.call('EXISTS', key) == 1 then
    redis.call('HDEL', key, 'ct', 'co', 'cs', 'cv')
    local n = redis.call('HGET', key, 'n')
    if n and redis.call('HGET', key, 'e') == '1' then redis.call('ZADD', due, n, id) end
    out[#out + 1] = id
  end
end
return out
