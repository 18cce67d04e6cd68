-- KEYS: due. ARGV: limit, the key to read after (its score in ms, '' to read from the start),
-- that key's id ('' before every id of its score), entry-key prefix.
-- Returns a JSON list of the rows of the first `limit` entries of the due index after the key,
-- by (score, id): Redis orders equal scores by their members' bytes, so the start is the
-- first rank past the key, found with a binary search among the members of its score.

-- Whether a sorts after b byte by byte, as Redis orders members (Lua's own `>` follows the
-- server's locale).
local function bytes_after(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end

local due, limit = KEYS[1], tonumber(ARGV[1])
local start = 0
if ARGV[2] ~= '' then
  local low = redis.call('ZCOUNT', due, '-inf', '(' .. ARGV[2])
  local high = redis.call('ZCOUNT', due, '-inf', ARGV[2])
  while low < high do
    local middle = math.floor((low + high) / 2)
    if bytes_after(redis.call('ZRANGE', due, middle, middle)[1], ARGV[3]) then
      high = middle
    else
      low = middle + 1
    end
  end
  start = low
end
local out = {}
for _, id in ipairs(redis.call('ZRANGE', due, start, start + limit - 1)) do
  local row = read_entry(ARGV[4] .. id, id)
  if row then out[#out + 1] = row end
end
return encode_list(out)
