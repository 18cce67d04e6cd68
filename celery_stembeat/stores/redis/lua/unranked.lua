-- KEYS: ids, a rank set. ARGV: the rank in ids to look on from, how many ids not in the set
-- (entries without its value) to skip before the ones wanted, how many are wanted, how many
-- ids not in the set lie before that rank, at most how many ids to look at, entry-key prefix,
-- '1' to look from the last id back (ranks then count from the end) or '0'.
-- Looks along ids in their byte order (the ids' code-point order), skipping members of the set.
-- Once every member lies behind, the rest are read by rank at once. Returns [JSON list of the
-- rows of the ids found, in the order looked at, then, to call again with, the rank to look on
-- from (-1: done), the ids still to skip, still wanted, and passed].
local ids, ranked = KEYS[1], KEYS[2]
local at, skip, wanted, passed = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4])
local stop, prefix = at + tonumber(ARGV[5]), ARGV[6]
local range = ARGV[7] == '1' and 'ZREVRANGE' or 'ZRANGE'
local found = {}
while wanted > 0 and at >= 0 and at < stop do
  if at - passed >= redis.call('ZCARD', ranked) then
    -- Every member of the set is behind: the ids from `at` on all lack the value.
    local first = at + skip
    for _, id in ipairs(redis.call(range, ids, first, first + wanted - 1)) do
      found[#found + 1] = id
    end
    at = -1
  else
    local batch = redis.call(range, ids, at, math.min(at + 999, stop - 1))
    if #batch == 0 then
      at = -1
    end
    for _, id in ipairs(batch) do
      at = at + 1
      if not redis.call('ZSCORE', ranked, id) then
        passed = passed + 1
        if skip > 0 then
          skip = skip - 1
        else
          found[#found + 1] = id
          wanted = wanted - 1
          if wanted == 0 then break end
        end
      end
    end
  end
end
local out = {}
for _, id in ipairs(found) do
  local row = read_entry(prefix .. id, id)
  if row then out[#out + 1] = row end
end
if at >= 0 and wanted == 0 then at = -1 end
return {encode_list(out), at, skip, wanted, passed}
