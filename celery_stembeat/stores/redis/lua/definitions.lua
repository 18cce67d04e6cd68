-- What a write builds its change records from. KEYS: entry-key prefix, the audit head
-- (optional). ARGV: the ids as a JSON list. Returns JSON: with KEYS[2], first the head's [seq,
-- hash, floor] (false where absent); then [id, version, enabled flag, definition, spec] of each
-- id that exists, in the ids' order.
local DEFINITION_FIELDS = {'v', 'e', 'd0', 'd1', 'd2', 'd3', 's0', 's1'}
local out = {}
if KEYS[2] then out[1] = redis.call('HMGET', KEYS[2], 's', 'h', 'f') end
for _, id in ipairs(cjson.decode(ARGV[1])) do
  local key = KEYS[1] .. id
  local values = redis.call('HMGET', key, unpack(DEFINITION_FIELDS))
  if values[1] then
    out[#out + 1] = {
      id, values[1], values[2], joined(key, 'd', values, 3, 4), joined(key, 's', values, 7, 2),
    }
  end
end
return encode_list(out)
