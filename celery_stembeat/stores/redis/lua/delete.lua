-- KEYS: entry, due, leases, ids, runs, config, outcomes, unscheduled, failing, open. ARGV: id,
-- channel, the tag-set key prefix. Returns 1 if the entry existed.
local tags = joined(KEYS[1], 't', {}, 1, 0)
if tags then
  for tag in string.gmatch(tags, '%S+') do redis.call('SREM', ARGV[3] .. tag, ARGV[1]) end
end
local existed = redis.call('DEL', KEYS[1])
for _, index in ipairs({KEYS[2], KEYS[3], KEYS[4], KEYS[6], KEYS[9], KEYS[10]}) do
  redis.call('ZREM', index, ARGV[1])
end
redis.call('SREM', KEYS[8], ARGV[1])
redis.call('DEL', KEYS[5], KEYS[7])
if existed == 1 then redis.call('PUBLISH', ARGV[2], ARGV[1]) end
return existed
