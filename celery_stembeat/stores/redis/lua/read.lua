-- KEYS: entry-key prefix, the audit head (optional). ARGV: enabled filter ('1', '0' or ''),
-- the ids as a JSON list. Returns a JSON list of the rows of the entries that exist (and pass
-- the filter), in the ids' order; with KEYS[2], preceded by the head's [seq, hash, floor]
-- (false where absent), read in the same step.
local out = {}
if KEYS[2] then out[1] = redis.call('HMGET', KEYS[2], 's', 'h', 'f') end
for _, id in ipairs(cjson.decode(ARGV[2])) do
  local row = read_entry(KEYS[1] .. id, id)
  if row and (ARGV[1] == '' or row[2] == ARGV[1]) then out[#out + 1] = row end
end
return encode_list(out)
