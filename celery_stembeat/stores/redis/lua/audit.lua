-- The audit log ({P}:audit, {P}:audit:log and {P}:audit:entry:<id>, see keys.py), shared by the
-- scripts that record changes. Python builds the records and their hash chain
-- (celery_stembeat.audit.chained) from what it read; a script stores them only while that is
-- still what the store holds: the log's head (audit_head_is) and each entry the records are
-- about (entry_is). Otherwise it writes nothing and replies "stale": Python reads again.
--
-- Such a script takes the records as the last part of its ARGV, from ARGV[first]: the seq ('0'
-- for an empty log) and hash of the head they follow, the floor after them, the key prefix of
-- the per-entry indexes, then each record's hash, entry id ('' for the pause) and text.

local GENESIS = string.rep('0', 64)
-- Records read per XRANGE while trimming.
local TRIM_PAGE = 1000

-- Whether the log's head (hash `head`) still is the one ARGV[first] and ARGV[first + 1] name.
local function audit_head_is(head, first)
  local stored = redis.call('HMGET', head, 's', 'h')
  return (stored[1] or '0') == ARGV[first] and (stored[2] or GENESIS) == ARGV[first + 1]
end

-- Whether entry hash `key` still holds version `version` and enabled flag `enabled` (both ''
-- for no entry): a definition changes only with one of them.
local function entry_is(key, version, enabled)
  local stored = redis.call('HMGET', key, 'v', 'e')
  return (stored[1] or '') == version and (stored[2] or '') == enabled
end

-- Delete the records of stream `log` numbered below `floor`, and their slots in the per-entry
-- indexes under `index_prefix`.
local function trim_changes(log, index_prefix, floor)
  local last = string.format('%d', floor - 1)
  local entries = {}
  local start = '-'
  repeat
    local page = redis.call('XRANGE', log, start, last, 'COUNT', TRIM_PAGE)
    for _, record in ipairs(page) do
      local fields = record[2]
      for i = 1, #fields, 2 do
        if fields[i] == 'e' then entries[fields[i + 1]] = true end
      end
    end
    if #page > 0 then start = '(' .. page[#page][1] end
  until #page < TRIM_PAGE
  redis.call('XTRIM', log, 'MINID', floor)
  local below = '(' .. string.format('%d', floor)
  for id in pairs(entries) do
    redis.call('ZREMRANGEBYSCORE', index_prefix .. id, '-inf', below)
  end
end

-- Append the records of ARGV[first + 4], ... to stream `log` (id `<seq>-0`, fields h, e, t) and
-- to the per-entry indexes, move the head (hash `head`: s, h, f) to the last of them, and
-- delete the records below the new floor. Nothing to append: nothing is written.
local function append_changes(head, log, first)
  if #ARGV < first + 4 then return end
  local seq = tonumber(ARGV[first])
  local index_prefix = ARGV[first + 3]
  for i = first + 4, #ARGV, 3 do
    seq = seq + 1
    local number = string.format('%d', seq)
    redis.call('XADD', log, number .. '-0', 'h', ARGV[i], 'e', ARGV[i + 1], 't', ARGV[i + 2])
    redis.call('ZADD', index_prefix .. ARGV[i + 1], number, number)
  end
  local floor = tonumber(ARGV[first + 2])
  local kept = tonumber(redis.call('HGET', head, 'f') or '1')
  if floor > kept then
    trim_changes(log, index_prefix, floor)
  else
    floor = kept
  end
  redis.call(
    'HSET', head, 's', string.format('%d', seq), 'h', ARGV[#ARGV - 2],
    'f', string.format('%d', floor)
  )
end
