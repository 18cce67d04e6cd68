-- KEYS: config. ARGV: the exclusive lower bound of ids (``-`` for none, else ``(`` + id), how
-- many, entry-key prefix. Returns JSON ``[[id, enabled flag, version, field g or false],
-- ...]`` for the next beat_schedule entries in byte order of ids.
local ids = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], '+', 'LIMIT', 0, ARGV[2])
local out = {}
for _, id in ipairs(ids) do
  local values = redis.call('HMGET', ARGV[3] .. id, 'e', 'v', 'g')
  if values[1] then out[#out + 1] = {id, values[1], values[2], values[3]} end
end
return encode_list(out)
