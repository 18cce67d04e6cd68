-- KEYS: due, leases, pause. ARGV: now ms, limit, lease deadline ms, token, owner, entry-key
-- prefix.
-- Returns JSON ``{"rows": [the claimed entries' rows, earliest first], "next": the earliest
-- score left in the due index (ms) or null}``; while a pause holds at now, claims nothing and
-- returns ``{"rows": [], "pause": the pause's JSON}``.
local due, leases = KEYS[1], KEYS[2]
local pause = redis.call('HMGET', KEYS[3], 'j', 'u')
if pause[1] and (not pause[2] or tonumber(pause[2]) > tonumber(ARGV[1])) then
  return '{"rows":[],"pause":' .. pause[1] .. '}'
end
local ids = redis.call('ZRANGEBYSCORE', due, '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
call_many('ZREM', due, ids)
-- READ_FIELDS, then the claim token
local fields = {unpack(READ_FIELDS)}
fields[#fields + 1] = 'ct'
local at = {}
for i, name in ipairs(ROW_FIELDS) do at[name] = i end
local out, leased = {}, {}
for _, id in ipairs(ids) do
  local key = ARGV[6] .. id
  local values = redis.call('HMGET', key, unpack(fields))
  local n = values[at.n]
  if n and values[at.e] == '1' and not values[#fields] then
    leased[#leased + 1] = ARGV[3]
    leased[#leased + 1] = id
    redis.call('HSET', key, 'ct', ARGV[4], 'co', ARGV[5], 'cs', n, 'cv', values[at.v])
    out[#out + 1] = entry_row(key, id, values)
  end
end
call_many('ZADD', leases, leased)
local head = redis.call('ZRANGE', due, 0, 0, 'WITHSCORES')
return '{"rows":' .. encode_list(out) .. ',"next":' .. (head[2] or 'null') .. '}'
