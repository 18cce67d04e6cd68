-- KEYS: entry, due, unscheduled, failing, open. ARGV: id, expected version, enabled ('1'/'0'),
-- next run ms ('' = none, '-' = keep), updated ms, channel. Returns the new version, 0 when the
-- entry is gone, -1 when the version moved.
local key, due, unscheduled, failing, open = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local stored = redis.call('HGET', key, 'v')
if not stored then return 0 end
if stored ~= ARGV[2] then return -1 end
local version = tonumber(stored) + 1
redis.call('HSET', key, 'e', ARGV[3], 'v', string.format('%d', version), 'ua', ARGV[5])
if ARGV[4] ~= '-' then set_or_del(key, 'n', ARGV[4]) end
reindex(key, due, unscheduled, ARGV[1])
index_health(key, ARGV[1], failing, open)
redis.call('PUBLISH', ARGV[6], ARGV[1])
return version
