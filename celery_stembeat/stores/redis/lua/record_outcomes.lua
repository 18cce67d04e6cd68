-- KEYS: failing, open, then for each entry whose reports changed something, its entry and
-- outcomes keys. ARGV: JSON ``[[id, [stream id, what workers reported on that run (JSON), ...],
-- the change of the tracked fields (codec.tracked_changes)], ...]`` in the order of KEYS.
-- Stores the values as given: Python folded them, and sends this script inside MULTI/EXEC
-- after WATCHing every key it read them from, so they are written only onto what was read.
-- Returns 0.
local health = new_health_slots()
for i, item in ipairs(cjson.decode(ARGV[1])) do
  local key, outcomes = KEYS[2 * i + 1], KEYS[2 * i + 2]
  hset_many(outcomes, item[2])
  local values, removed = {}, {}
  add_state(key, item[3], values, removed)
  hset_many(key, values)
  hdel_many(key, removed)
  add_health_slots(health, item[1], redis.call('HMGET', key, unpack(HEALTH_FIELDS)))
end
write_health_slots(health, KEYS[1], KEYS[2])
return 0
