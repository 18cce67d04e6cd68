-- KEYS: entry hashes. ARGV: for each, its version and the ``version:digest`` text to attach.
-- Attaches each to an entry still at that version: in field ``g`` for a beat_schedule entry
-- (one with field ``g``), else in field ``h``.
for i, key in ipairs(KEYS) do
  if redis.call('HGET', key, 'v') == ARGV[2 * i - 1] then
    local field = redis.call('HEXISTS', key, 'g') == 1 and 'g' or 'h'
    redis.call('HSET', key, field, ARGV[2 * i])
  end
end
return 0
