-- KEYS: entry, then the indexes (upsert_indexes), the audit head and log. ARGV: id, expected
-- version ('' = unchecked), channel, the entry as JSON {spec: canonical JSON, enabled: '1'/'0',
-- n: next run ms, ca: created ms, ua: updated ms ('' = none), d: definition JSON, state: the
-- rest of a new entry's run state {"s": {field: value}, "c": {name: chunked text}}, g: '' for a
-- beat_schedule entry (then listed in ``config``), absent otherwise}, the tag-set key prefix,
-- the version and enabled flag the change record was built from ('' and '' = no entry), then
-- the change records (see audit.lua).
-- Returns JSON: {"stale": true} (nothing written) when the entry or the log's head is no
-- longer as read, {"conflict": stored version or ""}, or the entry's row without the
-- definition.
local key = KEYS[1]
local id = ARGV[1]
local head, log = KEYS[INDEX_KEYS + 2], KEYS[INDEX_KEYS + 3]
if not (audit_head_is(head, 8) and entry_is(key, ARGV[6], ARGV[7])) then
  return '{"stale":true}'
end
local stored = redis.call('HGET', key, 'v')
local actual = stored and tonumber(stored) or 0
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= actual then
  return cjson.encode({conflict = stored or ''})
end
append_changes(head, log, 8)
write_entry(key, upsert_indexes(2), ARGV[3], ARGV[5], id, actual, cjson.decode(ARGV[4]))
local row = read_entry(key, id)
row[#ROW_FIELDS + 2] = false  -- the caller has the definition
return cjson.encode(row)
