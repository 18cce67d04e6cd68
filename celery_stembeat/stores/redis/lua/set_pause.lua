-- KEYS: pause, the audit head and log. ARGV: the pause as JSON ('' clears it), its until (epoch
-- ms, '' when open-ended), the change channel, the JSON of the pause the change record was built
-- from ('' = none), then the change record (see audit.lua).
-- Stores (or clears) the pause and announces it (''); a clear that finds nothing announces
-- nothing. Returns 1, or 0 (nothing written) when the pause or the log's head is no longer as
-- read.
local previous = redis.call('HGET', KEYS[1], 'j')
if (previous or '') ~= ARGV[4] or not audit_head_is(KEYS[2], 5) then return 0 end
append_changes(KEYS[2], KEYS[3], 5)
redis.call('DEL', KEYS[1])
if ARGV[1] ~= '' then
  redis.call('HSET', KEYS[1], 'j', ARGV[1])
  if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'u', ARGV[2]) end
end
if ARGV[1] ~= '' or previous then redis.call('PUBLISH', ARGV[3], '') end
return 1
