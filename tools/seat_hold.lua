-- The rule of usher's SEAT.HOLD as a Redis script, for tools/compare.sh:
-- hold every seat in KEYS for holder ARGV[1] for ARGV[2] milliseconds, all
-- or nothing. A seat is free if its key is missing, and may be held again
-- by the holder who already holds it (which renews its TTL); if any seat is
-- someone else's, nothing changes and the reply lists those seats.
-- One string key per held seat, value = holder, with a PX TTL.
--
--   EVALSHA <sha> 2 seat:17 seat:18 user-42 600000
--   -> {"held", "600000"}  or  {"taken", "seat:18"}
local holder = ARGV[1]
local taken = {}
for i = 1, #KEYS do
  local owner = redis.call('GET', KEYS[i])
  if owner and owner ~= holder then
    taken[#taken + 1] = KEYS[i]
  end
end
if #taken > 0 then
  return {'taken', unpack(taken)}
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], holder, 'PX', ARGV[2])
end
return {'held', ARGV[2]}
