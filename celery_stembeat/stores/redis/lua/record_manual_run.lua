-- KEYS: entry, runs, outcomes. ARGV: history limit, then the run's {field, value, ...}.
-- Appends the run to the entry's history when the entry exists (run state, indexes and
-- claims are not touched; nothing is announced). Returns 1, or 0 when there is no entry.
if redis.call('HEXISTS', KEYS[1], 'v') == 0 then return 0 end
append_runs(KEYS[2], KEYS[3], ARGV[1], {{unpack(ARGV, 2)}})
return 1
