-- KEYS: ids, the rank sets (RANK_FIELDS), the layout marker. ARGV: where to start in ids (a
-- ZRANGEBYLEX bound: '-', or '(' and the last id indexed), how many ids, entry-key prefix.
-- Puts each of those entries into the rank sets it has values for, from its hash, and out of
-- the others; an id whose entry has gone leaves them all. After the last id, sets the marker
-- where it is absent (a newer version may have been set meanwhile).
-- Returns the last id indexed, or nil once done. Each batch reads and writes in one step, so
-- several processes may index at once, and entries written meanwhile keep their slots.
local ids, ranks, layout = KEYS[1], {KEYS[2], KEYS[3], KEYS[4]}, KEYS[5]
local count = tonumber(ARGV[2])
local batch = redis.call('ZRANGEBYLEX', ids, ARGV[1], '+', 'LIMIT', 0, count)
local slots = new_rank_slots()
for _, id in ipairs(batch) do
  add_rank_slots(slots, id, redis.call('HMGET', ARGV[3] .. id, unpack(RANK_FIELDS)))
end
write_rank_slots(slots, ranks)
if #batch < count then
  redis.call('SET', layout, RANKED_LAYOUT, 'NX')
  return nil
end
return batch[#batch]
