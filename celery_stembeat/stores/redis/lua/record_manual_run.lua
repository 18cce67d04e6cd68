-- KEYS: entry, runs, outcomes, then the run counter of the run's minute when it counts.
-- ARGV: history limit, the counter's time to live (s), then the run's {field, value, ...}.
-- Appends the run to the entry's history and counts it when the entry exists (run state,
-- indexes and claims are not touched; nothing is announced). Returns 1, or 0 when there is no
-- entry.
if redis.call('HEXISTS', KEYS[1], 'v') == 0 then return 0 end
append_runs(KEYS[2], KEYS[3], ARGV[1], {{unpack(ARGV, 3)}})
if KEYS[4] then
  redis.call('INCR', KEYS[4])
  redis.call('EXPIRE', KEYS[4], ARGV[2])
end
return 1
