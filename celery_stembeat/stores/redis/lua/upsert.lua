-- KEYS: entry, then the indexes (upsert_indexes). ARGV: id, expected version ('' =
-- unchecked), channel, the entry as JSON {spec: canonical JSON, enabled: '1'/'0', n: next run
-- ms, ca: created ms, ua: updated ms ('' = none), d: definition JSON, state: the rest of a new
-- entry's run state {"s": {field: value}, "c": {name: chunked text}}, g: '' for a
-- beat_schedule entry (then listed in ``config``), absent otherwise}, the tag-set key prefix.
-- Returns JSON: {"conflict": stored version or ""}, or the entry's row without the definition.
local key = KEYS[1]
local id = ARGV[1]
local stored = redis.call('HGET', key, 'v')
local actual = stored and tonumber(stored) or 0
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= actual then
  return cjson.encode({conflict = stored or ''})
end
write_entry(key, upsert_indexes(2), ARGV[3], ARGV[5], id, actual, cjson.decode(ARGV[4]))
local row = read_entry(key, id)
row[#ROW_FIELDS + 2] = false  -- the caller has the definition
return cjson.encode(row)
