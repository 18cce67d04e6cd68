"""The Lua scripts behind :class:`~celery_stembeat.stores.redis.RedisStore`.

Each script is one atomic step of the store contract. Keys a script knows in advance come in
``KEYS``; entry hashes found through an index (``claim_due``, ``recover``) or named in a JSON
argument (``UPSERT_MANY``) are built from the entry-key prefix in ``ARGV``. Every key shares
one hash tag, so all of them live in one cluster slot. Hash fields are described in
:mod:`celery_stembeat.stores.redis`.

Entries travel to Python as one JSON text per call (``cjson.encode``), a row per entry with the
fields at fixed positions and the chunked values (``d*``, ``s*``, ``le*``) joined again: one
bulk reply is much cheaper for redis-py to read than dozens. Every value in these JSON texts,
both ways, is a string (or ``false`` for absent), so no number passes through Lua's doubles.
"""

from __future__ import annotations

#: Longest hash value Redis keeps in a listpack by default (``hash-max-listpack-value``).
CHUNK_BYTES = 64
#: The hash fields a script returns for an entry, in this order, as a JSON row
#: ``[id, *ROW_FIELDS, definition, spec, last error]`` (``false`` where a field is absent).
ROW_FIELDS = ("e", "v", "n", "ls", "lr", "ca", "ua", "tc", "fc", "cf", "ld", "dm", "dx")
#: The chunked values at the end of a row, each with the number of chunks read up front.
ROW_CHUNKED = (("d", 8), ("s", 2), ("le", 2))

_HELPERS = """
local CHUNK = @CHUNK@

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
-- nil value removes them all.
local function put_chunked(key, name, value)
  local count = 0
  if value then
    local values = {}
    count = add_chunks(values, name, value)
    hset_many(key, values)
  end
  while redis.call('HDEL', key, name .. count) == 1 do count = count + 1 end
end

local ROW_FIELDS = {@ROW_FIELDS@}
-- Chunked values a row carries after ROW_FIELDS, with how many chunks HMGET prefetches.
local CHUNKED = {@CHUNKED@}
-- ROW_FIELDS, then each chunked value's prefetched chunks
local READ_FIELDS = {@READ_FIELDS@}

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

-- The row {id, ROW_FIELDS..., definition, spec, last error} of the entry whose READ_FIELDS
-- (HMGET) are values.
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

-- Put the entry into the due index when it is enabled, unclaimed and has a next run.
local function reindex(key, due, id)
  local n = redis.call('HGET', key, 'n')
  if n and redis.call('HGET', key, 'e') == '1' and redis.call('HEXISTS', key, 'ct') == 0 then
    redis.call('ZADD', due, n, id)
  else
    redis.call('ZREM', due, id)
  end
end

local function set_or_del(key, field, value)
  if value == '' then
    redis.call('HDEL', key, field)
  else
    redis.call('HSET', key, field, value)
  end
end
"""
for _name, _value in {
    "CHUNK": str(CHUNK_BYTES),
    "ROW_FIELDS": ", ".join(f"'{name}'" for name in ROW_FIELDS),
    "CHUNKED": ", ".join(f"{{'{name}', {count}}}" for name, count in ROW_CHUNKED),
    "READ_FIELDS": ", ".join(
        f"'{name}'"
        for name in (
            *ROW_FIELDS,
            *(f"{name}{i}" for name, count in ROW_CHUNKED for i in range(count)),
        )
    ),
}.items():
    _HELPERS = _HELPERS.replace(f"@{_name}@", _value)

#: ARGV: enabled filter ('1', '0' or ''), entry-key prefix, the ids as a JSON list. Returns a
#: JSON list of the rows of the entries that exist (and pass the filter), in the ids' order.
READ = (
    _HELPERS
    + """
local out = {}
for _, id in ipairs(cjson.decode(ARGV[3])) do
  local row = read_entry(ARGV[2] .. id, id)
  if row and (ARGV[1] == '' or row[2] == ARGV[1]) then out[#out + 1] = row end
end
return encode_list(out)
"""
)

#: KEYS: due, leases. ARGV: now ms, limit, lease deadline ms, token, owner, entry-key prefix.
#: Returns JSON ``{"rows": [the claimed entries' rows, earliest first], "next": the earliest
#: score left in the due index (ms) or null}``.
CLAIM_DUE = (
    _HELPERS
    + """
local due, leases = KEYS[1], KEYS[2]
local ids = redis.call('ZRANGEBYSCORE', due, '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
call_many('ZREM', due, ids)
-- READ_FIELDS, then the claim token
local fields = {unpack(READ_FIELDS)}
fields[#fields + 1] = 'ct'
local at = {}
for i, name in ipairs(ROW_FIELDS) do at[name] = i end
local out, leased = {}, {}
for _, id in ipairs(ids) do
  local key = ARGV[6] .. id
  local values = redis.call('HMGET', key, unpack(fields))
  local n = values[at.n]
  if n and values[at.e] == '1' and not values[#fields] then
    leased[#leased + 1] = ARGV[3]
    leased[#leased + 1] = id
    redis.call('HSET', key, 'ct', ARGV[4], 'co', ARGV[5], 'cs', n, 'cv', values[at.v])
    out[#out + 1] = entry_row(key, id, values)
  end
end
call_many('ZADD', leases, leased)
local head = redis.call('ZRANGE', due, 0, 0, 'WITHSCORES')
return '{"rows":' .. encode_list(out) .. ',"next":' .. (head[2] or 'null') .. '}'
"""
)

#: KEYS: due, leases, then for each completion its entry and runs keys. ARGV: history limit,
#: then JSON ``[[token, the claimed entry's spec canonical JSON, id, next run ms ('' = none),
#: disable ('1'/'0'), state {"s": {field: value}, "x": [fields to remove], "le": new last
#: error, "lx": true to remove it} (the fields that change), runs [[field, value, ...], ...]],
#: ...]``. Returns a list: 1 per completion recorded, 0 where the token no longer holds the
#: entry's claim. Each completion is atomic (the whole script is).
COMPLETE = (
    _HELPERS
    + """
local due, leases, limit = KEYS[1], KEYS[2], ARGV[1]
local results = {}
-- Index writes for the completions recorded, made once at the end (an id completes at most
-- once per call: its first completion removes the claim token).
local ended, indexed, unindexed = {}, {}, {}
for i, c in ipairs(cjson.decode(ARGV[2])) do
  local key, runs = KEYS[2 * i + 1], KEYS[2 * i + 2]
  local id, state = c[3], c[6]
  -- The claim token and occurrence, next run, enabled flag, then the spec's first chunks.
  local stored = redis.call('HMGET', key, 'ct', 'cs', 'n', 'e', 's0', 's1')
  if stored[1] ~= c[1] then
    results[i] = 0
  else
    local values, removed = {}, {'ct', 'co', 'cs', 'cv'}
    -- An edit that changed the schedule during the claim (a new spec, or enabling again) has
    -- set the next run it wants; any other edit left 'n' at the claimed occurrence 'cs'.
    local n = stored[3]
    if joined(key, 's', stored, 5, 2) == c[2] and n == stored[2] then
      if c[4] == '' then
        n = false
        removed[#removed + 1] = 'n'
      else
        n = c[4]
        values[1], values[2] = 'n', n
      end
    end
    local enabled = stored[4]
    if c[5] == '1' then
      enabled = '0'
      values[#values + 1] = 'e'
      values[#values + 1] = '0'
    end
    for name, value in pairs(state.s) do
      values[#values + 1] = name
      values[#values + 1] = value
    end
    for _, name in ipairs(state.x) do removed[#removed + 1] = name end
    if state.le or state.lx then put_chunked(key, 'le', state.le) end
    if #values > 0 then hset_many(key, values) end
    hdel_many(key, removed)
    ended[#ended + 1] = id
    -- Enabled, with a next run, and (just now) unclaimed: due.
    if n and enabled == '1' then
      indexed[#indexed + 1] = n
      indexed[#indexed + 1] = id
    else
      unindexed[#unindexed + 1] = id
    end
    for _, run in ipairs(c[7]) do
      redis.call('XADD', runs, 'MAXLEN', limit, '*', unpack(run))
    end
    results[i] = 1
  end
end
call_many('ZREM', leases, ended)
call_many('ZADD', due, indexed)
call_many('ZREM', due, unindexed)
return results
"""
)

_WRITE_ENTRY = """
-- Write entry `id` (hash `key`) whose stored version is `actual` (0 = new) as upsert does;
-- `e` holds its values: spec, enabled, next run, created, updated, definition, the run state
-- of a new entry {s = {field = value}, le = last error}, and `g`: the value of field g (a
-- beat_schedule entry's digest, '' for none) or false for an entry created in the store.
-- Returns the new version.
local function write_entry(key, due, ids, config, channel, id, actual, e)
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
    if e.state.le then add_chunks(values, 'le', e.state.le) end
    add_chunks(values, 'd', e.d)
    add_chunks(values, 's', e.spec)
    if digest then
      values[#values + 1] = 'g'
      values[#values + 1] = digest
      redis.call('ZADD', config, 0, id)
    end
    hset_many(key, values)
    if e.n ~= '' and e.enabled == '1' then redis.call('ZADD', due, e.n, id) end
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
    if digest then
      redis.call('HSET', key, 'g', digest)
      redis.call('ZADD', config, 0, id)
    else
      redis.call('HDEL', key, 'g')
      redis.call('ZREM', config, id)
    end
    redis.call('HSET', key, 'e', e.enabled, 'v', version)
    reindex(key, due, id)
  end
  redis.call('ZADD', ids, 0, id)
  redis.call('PUBLISH', channel, id)
  return actual + 1
end
"""

#: KEYS: entry, due, ids, config. ARGV: id, expected version ('' = unchecked), channel, the
#: entry as JSON {spec: canonical JSON, enabled: '1'/'0', n: next run ms, ca: created ms, ua:
#: updated ms ('' = none), d: definition JSON, state: the rest of a new entry's run state
#: {"s": {field: value}, "le": last error}, g: '' for a beat_schedule entry (then listed in
#: ``config``), absent otherwise}.
#: Returns JSON: {"conflict": stored version or ""}, or the entry's row without the definition.
UPSERT = (
    _HELPERS
    + _WRITE_ENTRY
    + """
local key, due, ids, config = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id = ARGV[1]
local stored = redis.call('HGET', key, 'v')
local actual = stored and tonumber(stored) or 0
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= actual then
  return cjson.encode({conflict = stored or ''})
end
write_entry(key, due, ids, config, ARGV[3], id, actual, cjson.decode(ARGV[4]))
local row = read_entry(key, id)
row[#ROW_FIELDS + 2] = false  -- the caller has the definition
return cjson.encode(row)
"""
)

#: KEYS: due, ids, config. ARGV: channel, entry-key prefix, then JSON ``[[id, entry], ...]``
#: with each entry as UPSERT takes it and ``g`` the digest to attach to the version written.
#: Upserts each without a version check, in order. Returns JSON ``[[new version, row or false],
#: ...]`` in the same order: the row (without the definition) of each entry that existed before.
UPSERT_MANY = (
    _HELPERS
    + _WRITE_ENTRY
    + """
local due, ids, config, channel, prefix = KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2]
local out = {}
for i, item in ipairs(cjson.decode(ARGV[3])) do
  local id = item[1]
  local key = prefix .. id
  local stored = redis.call('HGET', key, 'v')
  local actual = stored and tonumber(stored) or 0
  local version = write_entry(key, due, ids, config, channel, id, actual, item[2])
  local row = false
  if actual > 0 then
    row = read_entry(key, id)
    row[#ROW_FIELDS + 2] = false
  end
  out[i] = {string.format('%d', version), row}
end
return encode_list(out)
"""
)

#: KEYS: config. ARGV: the exclusive lower bound of ids (``-`` for none, else ``(`` + id), how
#: many, entry-key prefix. Returns JSON ``[[id, enabled flag, version, field g or false],
#: ...]`` for the next beat_schedule entries in byte order of ids.
FINGERPRINTS = (
    _HELPERS
    + """
local ids = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], '+', 'LIMIT', 0, ARGV[2])
local out = {}
for _, id in ipairs(ids) do
  local values = redis.call('HMGET', ARGV[3] .. id, 'e', 'v', 'g')
  if values[1] then out[#out + 1] = {id, values[1], values[2], values[3]} end
end
return encode_list(out)
"""
)

#: KEYS: entry hashes. ARGV: for each, its version and the ``version:digest`` text to attach.
#: Attaches each to a beat_schedule entry (one with field ``g``) still at that version.
SET_DIGESTS = """
for i, key in ipairs(KEYS) do
  if redis.call('HGET', key, 'v') == ARGV[2 * i - 1] and redis.call('HEXISTS', key, 'g') == 1 then
    redis.call('HSET', key, 'g', ARGV[2 * i])
  end
end
return 0
"""

#: KEYS: entry, due, leases, ids, runs, config. ARGV: id, channel. Returns 1 if the entry
#: existed.
DELETE = """
local existed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('DEL', KEYS[5])
redis.call('ZREM', KEYS[6], ARGV[1])
if existed == 1 then redis.call('PUBLISH', ARGV[2], ARGV[1]) end
return existed
"""

#: KEYS: entry, due. ARGV: id, expected version, enabled ('1'/'0'), next run ms ('' = none,
#: '-' = keep), updated ms, channel. Returns the new version, 0 when the entry is gone, -1 when
#: the version moved.
SET_ENABLED = (
    _HELPERS
    + """
local key, due = KEYS[1], KEYS[2]
local stored = redis.call('HGET', key, 'v')
if not stored then return 0 end
if stored ~= ARGV[2] then return -1 end
local version = tonumber(stored) + 1
redis.call('HSET', key, 'e', ARGV[3], 'v', string.format('%d', version), 'ua', ARGV[5])
if ARGV[4] ~= '-' then set_or_del(key, 'n', ARGV[4]) end
reindex(key, due, ARGV[1])
redis.call('PUBLISH', ARGV[6], ARGV[1])
return version
"""
)

#: KEYS: leases. ARGV: new lease deadline ms, entry-key prefix, JSON ``[[id, token], ...]``.
#: Moves the deadline of each claim whose token still holds its entry. Returns a list: 1 per
#: claim renewed, 0 where the lease was lost.
RENEW = """
local out = {}
for i, claim in ipairs(cjson.decode(ARGV[3])) do
  if redis.call('HGET', ARGV[2] .. claim[1], 'ct') == claim[2] then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[1], claim[1])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""

#: KEYS: leases, due. ARGV: now ms, entry-key prefix. Returns the ids put back in the index.
RECOVER = """
local leases, due = KEYS[1], KEYS[2]
local ids = redis.call('ZRANGEBYSCORE', leases, '-inf', ARGV[1])
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZREM', leases, id)
  local key = ARGV[2] .. id
  if redis.call('EXISTS', key) == 1 then
    redis.call('HDEL', key, 'ct', 'co', 'cs', 'cv')
    local n = redis.call('HGET', key, 'n')
    if n and redis.call('HGET', key, 'e') == '1' then redis.call('ZADD', due, n, id) end
    out[#out + 1] = id
  end
end
return out
"""
