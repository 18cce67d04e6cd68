-- Functions shared by the scripts that read or write entries (after layout.lua).

local function hset_many(key, values)
  for first = 1, #values, 1000 do
    redis.call('HSET', key, unpack(values, first, math.min(first + 999, #values)))
  end
end

local function hdel_many(key, names)
  for first = 1, #names, 1000 do
    redis.call('HDEL', key, unpack(names, first, math.min(first + 999, #names)))
  end
end

-- One command over key with args, in as few calls as Lua's stack allows (args: an even count
-- per call, so that score/member pairs stay together).
local function call_many(command, key, args)
  for first = 1, #args, 1000 do
    redis.call(command, key, unpack(args, first, math.min(first + 999, #args)))
  end
end

-- Append value's chunks to values as fields name0, name1, ... of at most CHUNK bytes each
-- ('' is one empty chunk); returns how many.
local function add_chunks(values, name, value)
  local count = 0
  local position = 1
  repeat
    values[#values + 1] = name .. count
    values[#values + 1] = string.sub(value, position, position + CHUNK - 1)
    count = count + 1
    position = position + CHUNK
  until position > #value
  return count
end

-- Write value as chunks (see add_chunks) and remove chunks left over from a longer value; a
-- nil (or false) value removes them all.
local function put_chunked(key, name, value)
  local count = 0
  if value then
    local values = {}
    count = add_chunks(values, name, value)
    hset_many(key, values)
  end
  while redis.call('HDEL', key, name .. count) == 1 do count = count + 1 end
end

-- Add the run-state change `state` (codec.state_changes: {s = {field = value}, x = {field,
-- ...} to remove, c = {name = text, or false to remove}} for the chunked values) to the
-- writes `values` and removals `removed` of hash `key`; writes the chunked values now.
local function add_state(key, state, values, removed)
  for name, value in pairs(state.s) do
    values[#values + 1] = name
    values[#values + 1] = value
  end
  for _, name in ipairs(state.x) do removed[#removed + 1] = name end
  for name, value in pairs(state.c) do put_chunked(key, name, value) end
end

-- Chunks name0, name1, ... joined (false if there are none); the first `count` of them come
-- prefetched in values from index `first`.
local function joined(key, name, values, first, count)
  local parts = {}
  for i = 0, count - 1 do
    local part = values[first + i]
    if not part then break end
    parts[#parts + 1] = part
  end
  if #parts == count then
    local part = redis.call('HGET', key, name .. #parts)
    while part do
      parts[#parts + 1] = part
      part = redis.call('HGET', key, name .. #parts)
    end
  end
  if #parts == 0 then return false end
  return table.concat(parts)
end

-- The row {id, ROW_FIELDS..., definition, spec, last error, last task error} of the entry
-- whose READ_FIELDS (HMGET) are values.
local function entry_row(key, id, values)
  local row = {id}
  for i = 1, #ROW_FIELDS do row[i + 1] = values[i] end
  local first = #ROW_FIELDS + 1
  for _, chunked in ipairs(CHUNKED) do
    row[#row + 1] = joined(key, chunked[1], values, first, chunked[2])
    first = first + chunked[2]
  end
  return row
end

-- The entry as a row (see entry_row), or nil when there is no entry.
local function read_entry(key, id)
  local values = redis.call('HMGET', key, unpack(READ_FIELDS))
  if not values[2] then return nil end
  return entry_row(key, id, values)
end

local function encode_list(list)
  if #list == 0 then return '[]' end
  return cjson.encode(list)
end

-- Put the entry into the due index when it is enabled, unclaimed and has a next run; a claimed
-- entry that an edit left disabled or without a next run goes into `unscheduled` meanwhile.
local function reindex(key, due, unscheduled, id)
  local values = redis.call('HMGET', key, 'n', 'e', 'ct')
  local scheduled = values[1] and values[2] == '1'
  if values[3] then
    redis.call('ZREM', due, id)
    if scheduled then
      redis.call('SREM', unscheduled, id)
    else
      redis.call('SADD', unscheduled, id)
    end
  elseif scheduled then
    redis.call('ZADD', due, values[1], id)
  else
    redis.call('ZREM', due, id)
  end
end

-- The hash fields the health indexes follow, in the order add_health_slots takes them.
local HEALTH_FIELDS = {'e', 'cf', 'tk', 'lo', 'lf', 'ls', 'lr'}
local HEALTH_AT = {}
for i, name in ipairs(HEALTH_FIELDS) do HEALTH_AT[name] = i end

-- Slots to write into the health indexes (add_health_slots, write_health_slots).
local function new_health_slots()
  return {failing = {}, not_failing = {}, open = {}, not_open = {}}
end

-- Add to `slots` where entry `id` belongs in the health indexes, from the values `v` of its
-- HEALTH_FIELDS. Only an enabled entry belongs to any: to `failing`, scored by its consecutive
-- failures of sends (cf) or tasks (tk), whichever is more, while that is at least 1; to `open`,
-- scored by its last run (lr), while a worker has reported on it (lo) but not on its newest
-- occurrence (ls, with lf absent or before it).
local function add_health_slots(slots, id, v)
  local enabled = v[1] == '1'
  local streak = math.max(tonumber(v[2] or 0), tonumber(v[3] or 0))
  if enabled and streak >= 1 then
    slots.failing[#slots.failing + 1] = string.format('%d', streak)
    slots.failing[#slots.failing + 1] = id
  else
    slots.not_failing[#slots.not_failing + 1] = id
  end
  if enabled and v[4] and v[6] and v[7] and (not v[5] or tonumber(v[5]) < tonumber(v[6])) then
    slots.open[#slots.open + 1] = v[7]
    slots.open[#slots.open + 1] = id
  else
    slots.not_open[#slots.not_open + 1] = id
  end
end

local function write_health_slots(slots, failing, open)
  call_many('ZADD', failing, slots.failing)
  call_many('ZREM', failing, slots.not_failing)
  call_many('ZADD', open, slots.open)
  call_many('ZREM', open, slots.not_open)
end

-- Put entry `id` (hash `key`) into the health indexes `failing` and `open` it belongs to, from
-- its hash, and out of the others.
local function index_health(key, id, failing, open)
  local slots = new_health_slots()
  add_health_slots(slots, id, redis.call('HMGET', key, unpack(HEALTH_FIELDS)))
  write_health_slots(slots, failing, open)
end

-- The values `v` of HEALTH_FIELDS once the writes `values` ({field, value, ...}) and the
-- removals `removed` are made.
local function health_after(v, values, removed)
  for i = 1, #values, 2 do
    local at = HEALTH_AT[values[i]]
    if at then v[at] = values[i + 1] end
  end
  for _, name in ipairs(removed) do
    local at = HEALTH_AT[name]
    if at then v[at] = false end
  end
  return v
end

local function set_or_del(key, field, value)
  if value == '' then
    redis.call('HDEL', key, field)
  else
    redis.call('HSET', key, field, value)
  end
end

-- The time of the last id stream `runs` generated ('0', 0 when there is none): its
-- milliseconds as text, and its sequence number. It outlives a stream trimmed empty.
local function last_id(runs)
  if redis.call('EXISTS', runs) == 0 then return '0', 0 end
  local info = redis.call('XINFO', 'STREAM', runs)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      local ms, seq = string.match(info[i + 1], '^(%d+)-(%d+)$')
      return ms, tonumber(seq)
    end
  end
  return '0', 0
end

-- A run's time in epoch ms, as text: sent ('p'), else scheduled ('s', the first field).
local function run_time(fields)
  local at = fields[2]
  for j = 3, #fields, 2 do
    if fields[j] == 'p' then at = fields[j + 1] end
  end
  return at
end

-- The prefix's layout version, {P}:layout (absent: 0, a prefix written before the rank sets);
-- each version holds what the ones before it do, and a new prefix starts at the newest.
-- 1: the rank sets hold every entry's values.
local RANKED_LAYOUT = '1'
-- 2: and {P}:history counts the runs of every entry.
local COUNTED_LAYOUT = '2'

local function layout_version(layout)
  return tonumber(redis.call('GET', layout) or '0')
end

-- Whether `a` comes after `b` in byte order, the order of {P}:ids (Lua's own string order
-- follows the server's locale).
local function after_in_bytes(a, b)
  if a == b then return false end
  local i = 1
  while string.byte(a, i) == string.byte(b, i) do i = i + 1 end
  return (string.byte(a, i) or -1) > (string.byte(b, i) or -1)
end

-- The count of runs held as a script moves it, from the keys Keys.history_keys names: the
-- layout marker, the count and its scan. Below COUNTED_LAYOUT the count holds only the runs of
-- the ids count_history.lua has scanned (up to the last id it passed, kept in the scan): the
-- scan counts the others' as it passes them.
local function runs_count(layout, count, scan)
  if layout_version(layout) >= tonumber(COUNTED_LAYOUT) then
    return {key = count, upto = true}
  end
  return {key = count, upto = redis.call('GET', scan)}
end

-- Move the count `held` (runs_count) by `change` runs of entry `id`, unless it does not count
-- that entry's runs yet. (A change of 0, possibly -0, which INCRBY refuses, writes nothing.)
local function count_runs(held, id, change)
  if change == 0 then return end
  local upto = held.upto
  if upto == true or (upto and not after_in_bytes(id, upto)) then
    redis.call('INCRBY', held.key, change)
  end
end

-- Append the runs (each {field, value, ...}) of entry `id` to the stream `runs`, each with the
-- id of its stamp (base.history_stamps: its time, or the id before when that is later),
-- keeping the newest `limit` runs and those stamped at most `max_age` ms (text; '0': no age
-- limit) before the newest. What workers reported on the runs this trims (in the hash
-- `outcomes`) goes with them; the count `held` (runs_count) moves by the runs added less those
-- trimmed.
local function append_runs(runs, outcomes, held, id, limit, max_age, new_runs)
  local before = redis.call('XLEN', runs)
  local ms, seq = last_id(runs)
  for _, run in ipairs(new_runs) do
    local at = run_time(run)
    if tonumber(at) > tonumber(ms) then
      ms, seq = at, 0
    else
      seq = seq + 1
    end
    redis.call('XADD', runs, ms .. '-' .. seq, unpack(run))
  end
  local excess = before + #new_runs - tonumber(limit)
  -- Runs with ids below `oldest` (ms) are too old; both cuts take a stream's first runs.
  local oldest = tonumber(ms) - tonumber(max_age)
  local aging = max_age ~= '0' and oldest > 0
  if redis.call('EXISTS', outcomes) == 1 and (excess > 0 or aging) then
    local trimmed = {}
    if excess > 0 then
      for j, run in ipairs(redis.call('XRANGE', runs, '-', '+', 'COUNT', excess)) do
        trimmed[j] = run[1]
      end
    end
    if aging then
      local old = redis.call('XRANGE', runs, '-', string.format('%d', oldest - 1))
      if #old > #trimmed then
        for j, run in ipairs(old) do trimmed[j] = run[1] end
      end
    end
    hdel_many(outcomes, trimmed)
  end
  if excess > 0 then redis.call('XTRIM', runs, 'MAXLEN', limit) end
  if aging then redis.call('XTRIM', runs, 'MINID', string.format('%d', oldest)) end
  count_runs(held, id, redis.call('XLEN', runs) - before)
end

-- The hash fields the rank sets follow, in the order of their keys (keys.py's Keys.rank_keys).
local RANK_FIELDS = {'lr', 'tc', 'dm'}
local RANK_AT = {}
for i, name in ipairs(RANK_FIELDS) do RANK_AT[name] = i end
-- Slots to write into the rank sets (add_rank_slots, write_rank_slots).
local function new_rank_slots()
  return {add = {{}, {}, {}}, remove = {{}, {}, {}}}
end

-- Add to `slots` where entry `id` belongs in the rank sets, from the values `v` of its
-- RANK_FIELDS: in set i, scored by v[i] negated (so that a range by rank reads the largest
-- first, equal ones by id), while it has the value; out of it where v[i] is false; a nil v[i]
-- leaves set i alone. '%.17g' writes the double exactly.
local function add_rank_slots(slots, id, v)
  for i = 1, #RANK_FIELDS do
    if v[i] then
      local add = slots.add[i]
      add[#add + 1] = string.format('%.17g', -tonumber(v[i]))
      add[#add + 1] = id
    elseif v[i] == false then
      local remove = slots.remove[i]
      remove[#remove + 1] = id
    end
  end
end

-- The values of RANK_FIELDS that the writes `values` ({field, value, ...}) and the removals
-- `removed` make, for add_rank_slots: nil where they leave a field alone.
local function rank_changes(values, removed)
  local v = {}
  for i = 1, #values, 2 do
    local at = RANK_AT[values[i]]
    if at then v[at] = values[i + 1] end
  end
  for _, name in ipairs(removed) do
    local at = RANK_AT[name]
    if at then v[at] = false end
  end
  return v
end

-- Write `slots` into the rank sets `keys` (in RANK_FIELDS order).
local function write_rank_slots(slots, keys)
  for i = 1, #RANK_FIELDS do
    call_many('ZADD', keys[i], slots.add[i])
    call_many('ZREM', keys[i], slots.remove[i])
  end
end
