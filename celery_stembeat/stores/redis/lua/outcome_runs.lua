-- What record_outcomes folds reports into. KEYS: entry-key prefix, runs-key prefix,
-- outcomes-key prefix. ARGV: JSON ``[[id, scheduled for ms, manual ('1' or '')], ...]``. Returns
-- {the JSON list of the rows of the entries named that exist, then for each item the newest
-- run of that entry scheduled for that time, manual or not as asked (field 'm'), as {stream
-- id, {field, value, ...}, what workers reported on it (JSON) or false}, or false when the
-- entry or the run is not there}. History is searched from the newest run, a page at a time.
local PAGE = 100

-- Whether a run's fields (field 's' first, as codec.run_fields writes them) are those of the
-- occurrence at `at`, manual or not as `manual` says.
local function is_run(fields, at, manual)
  if fields[1] ~= 's' or fields[2] ~= at then return false end
  local found = ''
  for j = 3, #fields, 2 do
    if fields[j] == 'm' then found = fields[j + 1] end
  end
  return found == manual
end

local function newest_run(runs, at, manual)
  local last, skip = '+', 0
  while true do
    local page = redis.call('XREVRANGE', runs, last, '-', 'COUNT', PAGE)
    for i = 1 + skip, #page do
      if is_run(page[i][2], at, manual) then return page[i] end
    end
    if #page < PAGE then return false end
    -- The range is inclusive: the next page starts with this one's last run.
    last, skip = page[#page][1], 1
  end
end

local exists, rows, out = {}, {}, {}
for i, pair in ipairs(cjson.decode(ARGV[1])) do
  local id = pair[1]
  if exists[id] == nil then
    local row = read_entry(KEYS[1] .. id, id)
    exists[id] = row ~= nil
    rows[#rows + 1] = row
  end
  local run = exists[id] and newest_run(KEYS[2] .. id, pair[2], pair[3])
  if run then run[3] = redis.call('HGET', KEYS[3] .. id, run[1]) end
  out[i + 1] = run
end
out[1] = encode_list(rows)
return out
