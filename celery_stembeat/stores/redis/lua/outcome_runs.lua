-- What record_outcomes folds reports into. ARGV: entry-key prefix, runs-key prefix,
-- outcomes-key prefix, JSON ``[[id, scheduled for ms], ...]``. Returns {the JSON list of the
-- rows of the entries named that exist, then for each pair the newest run of that entry
-- scheduled for that time as {stream id, {field, value, ...}, what workers reported on it
-- (JSON) or false}, or false when the entry or the run is not there}. History is searched
-- from the newest run, a page at a time.
local PAGE = 100

local function newest_run(runs, at)
  local last, skip = '+', 0
  while true do
    local page = redis.call('XREVRANGE', runs, last, '-', 'COUNT', PAGE)
    for i = 1 + skip, #page do
      local fields = page[i][2]
      for j = 1, #fields, 2 do
        if fields[j] == 's' then
          if fields[j + 1] == at then return page[i] end
          break
        end
      end
    end
    if #page < PAGE then return false end
    -- The range is inclusive: the next page starts with this one's last run.
    last, skip = page[#page][1], 1
  end
end

local exists, rows, out = {}, {}, {}
for i, pair in ipairs(cjson.decode(ARGV[4])) do
  local id = pair[1]
  if exists[id] == nil then
    local row = read_entry(ARGV[1] .. id, id)
    exists[id] = row ~= nil
    rows[#rows + 1] = row
  end
  local run = exists[id] and newest_run(ARGV[2] .. id, pair[2])
  if run then run[3] = redis.call('HGET', ARGV[3] .. id, run[1]) end
  out[i + 1] = run
end
out[1] = encode_list(rows)
return out
