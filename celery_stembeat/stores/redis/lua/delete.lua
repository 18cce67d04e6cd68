-- KEYS: entry, due, leases, ids, runs, config, outcomes, unscheduled, failing, open. ARGV: id,
-- channel. Returns 1 if the entry existed.
local existed = redis.call('DEL', KEYS[1])
for _, index in ipairs({KEYS[2], KEYS[3], KEYS[4], KEYS[6], KEYS[9], KEYS[10]}) do
  redis.call('ZREM', index, ARGV[1])
end
redis.call('SREM', KEYS[8], ARGV[1])
redis.call('DEL', KEYS[5], KEYS[7])
if existed == 1 then redis.call('PUBLISH', ARGV[2], ARGV[1]) end
return existed
