-- KEYS: entry, due, leases, ids, runs, config, outcomes, unscheduled, failing, open, the rank
-- sets (three), the audit head and log, the layout marker, the count of runs held and its scan
-- (runs_count). ARGV: id, channel, the tag-set key prefix, the version and enabled flag the
-- change record was built from ('' and '' = no entry), then the change record (see audit.lua).
-- Returns 1 if the entry existed, 0 if not, -1 (nothing written) when the entry or the log's
-- head is no longer as read.
if not (audit_head_is(KEYS[14], 6) and entry_is(KEYS[1], ARGV[4], ARGV[5])) then return -1 end
append_changes(KEYS[14], KEYS[15], 6)
local tags = joined(KEYS[1], 't', {}, 1, 0)
if tags then
  for tag in string.gmatch(tags, '%S+') do redis.call('SREM', ARGV[3] .. tag, ARGV[1]) end
end
local existed = redis.call('DEL', KEYS[1])
for _, index in ipairs({KEYS[2], KEYS[3], KEYS[4], KEYS[6], KEYS[9], KEYS[10], KEYS[11],
                        KEYS[12], KEYS[13]}) do
  redis.call('ZREM', index, ARGV[1])
end
redis.call('SREM', KEYS[8], ARGV[1])
count_runs(runs_count(KEYS[16], KEYS[17], KEYS[18]), ARGV[1], -redis.call('XLEN', KEYS[5]))
redis.call('DEL', KEYS[5], KEYS[7])
if existed == 1 then redis.call('PUBLISH', ARGV[2], ARGV[1]) end
return existed
