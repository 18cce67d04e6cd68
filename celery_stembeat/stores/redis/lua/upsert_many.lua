-- KEYS: the indexes (upsert_indexes), the audit head and log. ARGV: channel ('' to publish
-- nothing), entry-key prefix, then JSON ``[[id, entry, expected version?], ...]`` with each
-- entry as upsert.lua takes it and ``g`` (``h``) the digest to attach to the version written,
-- the tag-set key prefix, JSON ``[[id, version, enabled flag], ...]``: what the change records
-- were built from, each id once ('' and '' = no entry), then the change records (see
-- audit.lua).
-- Writes nothing and returns JSON ``{"stale": true}`` when an entry or the log's head is no
-- longer as read. Else upserts each in order: without a version check, or, where an expected
-- version is given ('0': must not exist), only if the stored version is that one. Returns JSON
-- ``[[new version, row or false], ...]`` in the same order: the row (without the definition)
-- of each entry that existed before; ``["0", false]`` for an entry refused by its check.
local indexes, channel, prefix, tag_prefix = upsert_indexes(1), ARGV[1], ARGV[2], ARGV[4]
local head, log = KEYS[INDEX_KEYS + 1], KEYS[INDEX_KEYS + 2]
if not audit_head_is(head, 6) then return '{"stale":true}' end
for _, read in ipairs(cjson.decode(ARGV[5])) do
  if not entry_is(prefix .. read[1], read[2], read[3]) then return '{"stale":true}' end
end
append_changes(head, log, 6)
local out = {}
for i, item in ipairs(cjson.decode(ARGV[3])) do
  local id = item[1]
  local key = prefix .. id
  local stored = redis.call('HGET', key, 'v')
  local actual = stored and tonumber(stored) or 0
  if item[3] and tonumber(item[3]) ~= actual then
    out[i] = {'0', false}
  else
    local version = write_entry(key, indexes, channel, tag_prefix, id, actual, item[2])
    local row = false
    if actual > 0 then
      row = read_entry(key, id)
      row[#ROW_FIELDS + 2] = false
    end
    out[i] = {string.format('%d', version), row}
  end
end
return encode_list(out)
