-- KEYS: for each entry whose reports changed something, its entry and outcomes keys. ARGV:
-- JSON ``[[[stream id, what workers reported on that run (JSON), ...], the change of the
-- tracked fields (codec.tracked_changes)], ...]`` in the order of KEYS. Stores the values as
-- given: Python folded them, and sends this script inside MULTI/EXEC after WATCHing every key
-- it read them from, so they are written only onto what was read. Returns 0.
for i, item in ipairs(cjson.decode(ARGV[1])) do
  local key, outcomes = KEYS[2 * i - 1], KEYS[2 * i]
  hset_many(outcomes, item[1])
  local values, removed = {}, {}
  add_state(key, item[2], values, removed)
  hset_many(key, values)
  hdel_many(key, removed)
end
return 0
