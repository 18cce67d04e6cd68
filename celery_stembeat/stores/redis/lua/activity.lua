-- KEYS: due, leases, unscheduled, failing. ARGV: now (ms), overdue before (ms, rounded up),
-- the entry key prefix, then the keys of the minutes whose runs are counted. Returns
-- {scheduled, due, overdue, failing to send, runs}: counts of index ranges, the failing
-- entries' 'cf' (their sends failing, not only their tasks) and one MGET.
local due, leases, unscheduled, failing = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local claimed = redis.call('ZCARD', leases) - redis.call('SCARD', unscheduled)
local scheduled = redis.call('ZCARD', due) + claimed
local due_now = redis.call('ZCOUNT', due, '-inf', ARGV[1]) + claimed
local overdue = redis.call('ZCOUNT', due, '-inf', '(' .. ARGV[2])
local sending = 0
for _, id in ipairs(redis.call('ZRANGE', failing, 0, -1)) do
  local cf = redis.call('HGET', ARGV[3] .. id, 'cf')
  if cf and tonumber(cf) > 0 then sending = sending + 1 end
end
local runs = 0
if #ARGV > 3 then
  for _, count in ipairs(redis.call('MGET', unpack(ARGV, 4))) do
    if count then runs = runs + tonumber(count) end
  end
end
return {scheduled, due_now, overdue, sending, runs}
