-- KEYS: entry, runs, outcomes, the layout marker, the count of runs held and its scan
-- (runs_count), the audit head and log, then the run counter of the run's minute when it
-- counts. ARGV: history limit, the counter's time to live (s), the run's fields as JSON
-- ``[field, value, ...]``, the history's maximum age (ms, '0' = none), the entry's id, then the
-- change record (see audit.lua).
-- Appends the run to the entry's history, counts it and records the change when the entry
-- exists (run state, indexes and claims are not touched; nothing is announced). Returns 1, 0
-- when there is no entry, or -1 (nothing written) when the log's head moved since it was read.
if not audit_head_is(KEYS[7], 6) then return -1 end
if redis.call('HEXISTS', KEYS[1], 'v') == 0 then return 0 end
append_changes(KEYS[7], KEYS[8], 6)
local held = runs_count(KEYS[4], KEYS[5], KEYS[6])
append_runs(KEYS[2], KEYS[3], held, ARGV[5], ARGV[1], ARGV[4], {cjson.decode(ARGV[3])})
if KEYS[9] then
  redis.call('INCR', KEYS[9])
  redis.call('EXPIRE', KEYS[9], ARGV[2])
end
return 1
