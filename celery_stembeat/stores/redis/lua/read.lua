-- KEYS: the audit head, optional. ARGV: enabled filter ('1', '0' or ''), entry-key prefix, the
-- ids as a JSON list. Returns a JSON list of the rows of the entries that exist (and pass the
-- filter), in the ids' order; with KEYS[1], preceded by the head's [seq, hash, floor] (false
-- where absent), read in the same step.
local out = {}
if KEYS[1] then out[1] = redis.call('HMGET', KEYS[1], 's', 'h', 'f') end
for _, id in ipairs(cjson.decode(ARGV[3])) do
  local row = read_entry(ARGV[2] .. id, id)
  if row and (ARGV[1] == '' or row[2] == ARGV[1]) then out[#out + 1] = row end
end
return encode_list(out)
