-- Writing one entry, shared by upsert.lua and upsert_many.lua (after layout.lua, helpers.lua).

-- How many keys upsert_indexes takes.
local INDEX_KEYS = 12

-- The indexes an upsert maintains, from KEYS[first] on (keys.py's Keys.indexes, in order): the
-- rank sets in RANK_FIELDS order, the layout marker, the count of runs held and its scan.
local function upsert_indexes(first)
  return {
    due = KEYS[first], ids = KEYS[first + 1], config = KEYS[first + 2],
    unscheduled = KEYS[first + 3], failing = KEYS[first + 4], open = KEYS[first + 5],
    ranks = {KEYS[first + 6], KEYS[first + 7], KEYS[first + 8]}, layout = KEYS[first + 9],
    history = KEYS[first + 10], history_scan = KEYS[first + 11],
  }
end

-- Move entry `id` (hash `key`) from the tag sets of its stored tags (chunks t*) to those of
-- `tags` (names joined by spaces, '' for none); a tag's set is `tag_prefix` .. name.
local function retag(key, tag_prefix, id, tags)
  local old = joined(key, 't', {}, 1, 0) or ''
  if old == tags then return end
  local wanted = {}
  for tag in string.gmatch(tags, '%S+') do wanted[tag] = true end
  for tag in string.gmatch(old, '%S+') do
    if not wanted[tag] then redis.call('SREM', tag_prefix .. tag, id) end
  end
  for tag in pairs(wanted) do redis.call('SADD', tag_prefix .. tag, id) end
  put_chunked(key, 't', tags ~= '' and tags)
end

-- Write entry `id` (hash `key`) whose stored version is `actual` (0 = new) as upsert does, and
-- its slots in `indexes` (upsert_indexes) and in the tag sets under `tag_prefix`; `e` holds
-- its values: spec, enabled, next run, created, updated, definition, `t` its tags (joined by
-- spaces), the run state of a new entry {s = {field = value}, c = {name = chunked text}}, and
-- `g`: the value of field g (a beat_schedule entry's digest, '' for none) or false for an
-- entry created in the store; `h`: the digest of an entry created in the store, kept in field h
-- (absent: none). Publishes `id` on `channel` unless it is ''. Returns the new version.
local function write_entry(key, indexes, channel, tag_prefix, id, actual, e)
  local version = string.format('%d', actual + 1)
  local digest = e.g and (e.g == '' and '' or version .. ':' .. e.g)
  if actual == 0 then
    -- A new hash: every field in one HSET, and nothing left over to remove.
    local values = {'e', e.enabled, 'v', version}
    for name, value in pairs(e.state.s) do
      values[#values + 1] = name
      values[#values + 1] = value
    end
    for _, name in ipairs({'n', 'ca', 'ua'}) do
      if e[name] ~= '' then
        values[#values + 1] = name
        values[#values + 1] = e[name]
      end
    end
    for name, value in pairs(e.state.c) do add_chunks(values, name, value) end
    add_chunks(values, 'd', e.d)
    add_chunks(values, 's', e.spec)
    if e.t ~= '' then
      add_chunks(values, 't', e.t)
      for tag in string.gmatch(e.t, '%S+') do redis.call('SADD', tag_prefix .. tag, id) end
    end
    if digest then
      values[#values + 1] = 'g'
      values[#values + 1] = digest
      redis.call('ZADD', indexes.config, 0, id)
    end
    if e.h then
      values[#values + 1] = 'h'
      values[#values + 1] = version .. ':' .. e.h
    end
    hset_many(key, values)
    if e.n ~= '' and e.enabled == '1' then redis.call('ZADD', indexes.due, e.n, id) end
    -- A new entry without run state (the usual one) is in no health index nor rank set.
    if next(e.state.s) then
      index_health(key, id, indexes.failing, indexes.open)
      local ranked = new_rank_slots()
      add_rank_slots(ranked, id, rank_changes(values, {}))
      write_rank_slots(ranked, indexes.ranks)
    end
    -- The first entry of a prefix (one that has none holds no runs): every entry to come
    -- keeps the rank sets and the count of runs held.
    if redis.call('EXISTS', indexes.ids) == 0 then
      redis.call('SET', indexes.layout, COUNTED_LAYOUT)
      redis.call('SET', indexes.history, 0)
      redis.call('DEL', indexes.history_scan)
    end
  else
    local rescheduled = joined(key, 's', {}, 1, 0) ~= e.spec
      or (e.enabled == '1' and redis.call('HGET', key, 'e') ~= '1')
    if rescheduled then set_or_del(key, 'n', e.n) end
    if redis.call('HEXISTS', key, 'ca') == 0 and e.ca ~= '' then
      redis.call('HSET', key, 'ca', e.ca)
    end
    set_or_del(key, 'ua', e.ua)
    put_chunked(key, 'd', e.d)
    put_chunked(key, 's', e.spec)
    retag(key, tag_prefix, id, e.t)
    if digest then
      redis.call('HSET', key, 'g', digest)
      redis.call('ZADD', indexes.config, 0, id)
    else
      redis.call('HDEL', key, 'g')
      redis.call('ZREM', indexes.config, id)
    end
    -- A mark made for an earlier version no longer matches: only a new one needs writing.
    if e.h then redis.call('HSET', key, 'h', version .. ':' .. e.h) end
    redis.call('HSET', key, 'e', e.enabled, 'v', version)
    reindex(key, indexes.due, indexes.unscheduled, id)
    index_health(key, id, indexes.failing, indexes.open)
  end
  redis.call('ZADD', indexes.ids, 0, id)
  if channel ~= '' then redis.call('PUBLISH', channel, id) end
  return actual + 1
end
