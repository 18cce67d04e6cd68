-- KEYS: entry, due. ARGV: id, expected version, enabled ('1'/'0'), next run ms ('' = none,
-- '-' = keep), updated ms, channel. Returns the new version, 0 when the entry is gone, -1 when
-- the version moved.
local key, due = KEYS[1], KEYS[2]
local stored = redis.call('HGET', key, 'v')
if not stored then return 0 end
if stored ~= ARGV[2] then return -1 end
local version = tonumber(stored) + 1
redis.call('HSET', key, 'e', ARGV[3], 'v', string.format('%d', version), 'ua', ARGV[5])
if ARGV[4] ~= '-' then set_or_del(key, 'n', ARGV[4]) end
reindex(key, due, ARGV[1])
redis.call('PUBLISH', ARGV[6], ARGV[1])
return version
