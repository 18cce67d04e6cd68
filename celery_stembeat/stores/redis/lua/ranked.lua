-- KEYS: a rank set, the layout marker, ids. ARGV: limit, offset, entry-key prefix, the score from
-- which (negated) the set's scores may be rounded ('' = never).
-- Returns nil while the prefix's rank sets may lack entries (the marker is below RANKED_LAYOUT:
-- see index_ranks.lua); else [JSON list of the rows of the members at ranks offset to
-- offset + limit - 1, how many members that range held, the set's size, 1 when a score in it
-- may be rounded (its members' order then is not their values'; no rows) or 0, how many ids
-- there are].
local ranked = KEYS[1]
if layout_version(KEYS[2]) < tonumber(RANKED_LAYOUT) then return nil end
local offset = tonumber(ARGV[2])
local page = redis.call('ZRANGE', ranked, offset, offset + tonumber(ARGV[1]) - 1, 'WITHSCORES')
local size = redis.call('ZCARD', ranked)
local members = #page / 2
local count = redis.call('ZCARD', KEYS[3])
if ARGV[4] ~= '' then
  local bound = -tonumber(ARGV[4])
  for i = 2, #page, 2 do
    if tonumber(page[i]) <= bound then return {'[]', members, size, 1, count} end
  end
end
local out = {}
for i = 1, #page, 2 do
  local row = read_entry(ARGV[3] .. page[i], page[i])
  if row then out[#out + 1] = row end
end
return {encode_list(out), members, size, 0, count}
