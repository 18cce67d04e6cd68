-- KEYS: entry-key prefix. ARGV: JSON ``[id, ...]``. Returns JSON ``[[id, enabled
-- flag, version, digest mark or false, "config" or "store"], ...]`` for the ids that exist, in
-- the order given: the mark is field ``g`` for a beat_schedule entry, else field ``h``.
local out = {}
for _, id in ipairs(cjson.decode(ARGV[1])) do
  local values = redis.call('HMGET', KEYS[1] .. id, 'e', 'v', 'g', 'h')
  if values[1] then
    if values[3] then
      out[#out + 1] = {id, values[1], values[2], values[3], 'config'}
    else
      out[#out + 1] = {id, values[1], values[2], values[4], 'store'}
    end
  end
end
return encode_list(out)
