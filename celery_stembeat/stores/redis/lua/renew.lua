-- KEYS: leases. ARGV: new lease deadline ms, entry-key prefix, JSON ``[[id, token], ...]``.
-- Moves the deadline of each claim whose token still holds its entry. Returns a list: 1 per
-- claim renewed, 0 where the lease was lost.
local out = {}
for i, claim in ipairs(cjson.decode(ARGV[3])) do
  if redis.call('HGET', ARGV[2] .. claim[1], 'ct') == claim[2] then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[1], claim[1])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
