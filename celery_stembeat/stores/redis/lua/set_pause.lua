-- KEYS: pause. ARGV: the pause as JSON ('' clears it), its until (epoch ms, '' when
-- open-ended), the change channel.
-- Stores (or clears) the pause and announces it (''); a clear that finds nothing announces
-- nothing. Returns the JSON of the pause it replaced, or nil.
local previous = redis.call('HGET', KEYS[1], 'j')
redis.call('DEL', KEYS[1])
if ARGV[1] ~= '' then
  redis.call('HSET', KEYS[1], 'j', ARGV[1])
  if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'u', ARGV[2]) end
end
if ARGV[1] ~= '' or previous then redis.call('PUBLISH', ARGV[3], '') end
return previous
