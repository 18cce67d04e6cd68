-- KEYS: entry hashes. ARGV: for each, its version and the ``version:digest`` text to attach.
-- Attaches each to a beat_schedule entry (one with field ``g``) still at that version.
for i, key in ipairs(KEYS) do
  if redis.call('HGET', key, 'v') == ARGV[2 * i - 1] and redis.call('HEXISTS', key, 'g') == 1 then
    redis.call('HSET', key, 'g', ARGV[2 * i])
  end
end
return 0
