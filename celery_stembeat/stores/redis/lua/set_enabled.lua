-- KEYS: entry, due, unscheduled, failing, open, the audit head and log. ARGV: id, expected
-- version, enabled ('1'/'0'), next run ms ('' = none, '-' = keep), updated ms, channel, then the
-- change record (see audit.lua). Returns the new version, 0 when the entry is gone, -1 (nothing
-- written) when the version, the flag or the log's head moved since they were read.
local key, due, unscheduled, failing, open = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local stored = redis.call('HMGET', key, 'v', 'e')
if not stored[1] then return 0 end
-- The flag read was the other one (the caller writes only a flag that changes).
if stored[1] ~= ARGV[2] or stored[2] == ARGV[3] or not audit_head_is(KEYS[6], 7) then
  return -1
end
append_changes(KEYS[6], KEYS[7], 7)
local version = tonumber(stored[1]) + 1
redis.call('HSET', key, 'e', ARGV[3], 'v', string.format('%d', version), 'ua', ARGV[5])
if ARGV[4] ~= '-' then set_or_del(key, 'n', ARGV[4]) end
reindex(key, due, unscheduled, ARGV[1])
index_health(key, ARGV[1], failing, open)
redis.call('PUBLISH', ARGV[6], ARGV[1])
return version
