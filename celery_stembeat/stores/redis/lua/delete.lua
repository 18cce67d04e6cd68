-- KEYS: entry, due, leases, ids, runs, config, outcomes. ARGV: id, channel. Returns 1 if the
-- entry existed.
local existed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('DEL', KEYS[5])
redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('DEL', KEYS[7])
if existed == 1 then redis.call('PUBLISH', ARGV[2], ARGV[1]) end
return existed
