-- KEYS: runs, outcomes. ARGV: how many. Returns the newest runs, newest first, each as
-- {stream id, {field, value, ...}, what workers reported on it (JSON) or false}.
local runs = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[1])
local reported = redis.call('EXISTS', KEYS[2]) == 1
for _, run in ipairs(runs) do
  run[3] = reported and redis.call('HGET', KEYS[2], run[1])
end
return runs
