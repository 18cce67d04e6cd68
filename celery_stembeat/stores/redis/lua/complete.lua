-- KEYS: due, leases, unscheduled, failing, open, the rank sets (RANK_FIELDS), the layout
-- marker, the count of runs held and its scan (runs_count), then for each completion its entry,
-- runs and outcomes keys. ARGV: history limit, then JSON ``[[token, the claimed entry's spec
-- canonical JSON, id, next run ms ('' = none), disable ('1'/'0'), state (the fields that
-- change, as codec.state_changes gives them; never the tracked fields), runs [[field, value,
-- ...], ...], the minutes its runs count in [[epoch minute, runs], ...]], ...]``, the key
-- prefix of the run counters and their time to live (s), the history's maximum age (ms, '0' =
-- none). Returns a list: 1 per completion recorded, 0 where the token no longer holds the
-- entry's claim. Each completion is atomic (the whole script is).
local due, leases, unscheduled, failing, open = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local ranks = {KEYS[6], KEYS[7], KEYS[8]}
local held = runs_count(KEYS[9], KEYS[10], KEYS[11])
local limit = ARGV[1]
local results = {}
-- Index writes for the completions recorded, made once at the end (an id completes at most
-- once per call: its first completion removes the claim token).
local ended, indexed, unindexed, health = {}, {}, {}, new_health_slots()
local ranked = new_rank_slots()
local minutes = {}
for i, c in ipairs(cjson.decode(ARGV[2])) do
  local key, runs, outcomes = KEYS[3 * i + 9], KEYS[3 * i + 10], KEYS[3 * i + 11]
  local id, state = c[3], c[6]
  -- The claim token and occurrence, next run, the spec's first chunks, then HEALTH_FIELDS
  -- (enabled first).
  local stored = redis.call('HMGET', key, 'ct', 'cs', 'n', 's0', 's1', unpack(HEALTH_FIELDS))
  if stored[1] ~= c[1] then
    results[i] = 0
  else
    local values, removed = {}, {'ct', 'co', 'cs', 'cv'}
    -- An edit that changed the schedule during the claim (a new spec, or enabling again) has
    -- set the next run it wants; any other edit left 'n' at the claimed occurrence 'cs'.
    local n = stored[3]
    if joined(key, 's', stored, 4, 2) == c[2] and n == stored[2] then
      if c[4] == '' then
        n = false
        removed[#removed + 1] = 'n'
      else
        n = c[4]
        values[1], values[2] = 'n', n
      end
    end
    local enabled = stored[6]
    if c[5] == '1' then
      enabled = '0'
      values[#values + 1] = 'e'
      values[#values + 1] = '0'
    end
    add_state(key, state, values, removed)
    if #values > 0 then hset_many(key, values) end
    hdel_many(key, removed)
    -- The tracked fields come from the hash: reports may have moved them during the claim.
    add_health_slots(health, id, health_after({unpack(stored, 6)}, values, removed))
    add_rank_slots(ranked, id, rank_changes(values, removed))
    ended[#ended + 1] = id
    -- Enabled, with a next run, and (just now) unclaimed: due.
    if n and enabled == '1' then
      indexed[#indexed + 1] = n
      indexed[#indexed + 1] = id
    else
      unindexed[#unindexed + 1] = id
    end
    append_runs(runs, outcomes, held, id, limit, ARGV[5], c[7])
    for _, counted in ipairs(c[8]) do
      minutes[counted[1]] = (minutes[counted[1]] or 0) + tonumber(counted[2])
    end
    results[i] = 1
  end
end
call_many('ZREM', leases, ended)
call_many('SREM', unscheduled, ended)
call_many('ZADD', due, indexed)
call_many('ZREM', due, unindexed)
write_health_slots(health, failing, open)
write_rank_slots(ranked, ranks)
for minute, count in pairs(minutes) do
  redis.call('INCRBY', ARGV[3] .. minute, count)
  redis.call('EXPIRE', ARGV[3] .. minute, ARGV[4])
end
return results
