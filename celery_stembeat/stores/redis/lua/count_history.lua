-- KEYS: ids, the layout marker, the count of runs held, its scan. ARGV: how many ids to count
-- per call, runs-key prefix.
-- One step of counting the runs of a prefix written before the count (see history_count.py):
-- takes the ids after the scan's last one (from the first id when there is no scan: the count
-- then starts at their runs, whatever it held), adds their streams' runs to the count and keeps
-- the last of them in the scan, or, past the last id, sets the marker to COUNTED_LAYOUT and
-- drops the scan. The scripts that move the count meanwhile leave the ids not yet scanned to it
-- (runs_count).
-- Returns the count once the marker is at COUNTED_LAYOUT (this step's last included), 0 for a
-- prefix without entries (nothing written), -1 while ids remain to count, or -2 (nothing
-- written) while the marker is below RANKED_LAYOUT: the rank sets are to be indexed first.
local ids, layout, count, scan = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local version = layout_version(layout)
if version >= tonumber(COUNTED_LAYOUT) then return tonumber(redis.call('GET', count) or '0') end
if redis.call('EXISTS', ids) == 0 then return 0 end
if version < tonumber(RANKED_LAYOUT) then return -2 end
local last = redis.call('GET', scan)
local size = tonumber(ARGV[1])
local batch = redis.call('ZRANGEBYLEX', ids, last and '(' .. last or '-', '+', 'LIMIT', 0, size)
local runs = 0
for _, id in ipairs(batch) do runs = runs + redis.call('XLEN', ARGV[2] .. id) end
if last then
  redis.call('INCRBY', count, runs)
else
  redis.call('SET', count, runs)
end
if #batch == size then
  redis.call('SET', scan, batch[#batch])
  return -1
end
redis.call('SET', layout, COUNTED_LAYOUT)
redis.call('DEL', scan)
return tonumber(redis.call('GET', count))
