-- KEYS: incidents. ARGV: the incident's key, its new state, the incident as JSON.
-- Moves the incident to the state unless it is there already: ``ok`` deletes its field, any
-- other state writes the JSON. Returns the state it left (``ok`` when it had no field), or
-- nil when it was in the state already.
local stored = redis.call('HGET', KEYS[1], ARGV[1])
local previous = 'ok'
if stored then
  previous = cjson.decode(stored)['state']
end
if previous == ARGV[2] then
  return false
end
if ARGV[2] == 'ok' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
return previous
