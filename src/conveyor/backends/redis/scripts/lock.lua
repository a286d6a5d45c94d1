-- Take or renew the maintenance lock: free, run out, or already this owner's.
-- ARGV: base, owner, now, hold_until. Returns 1 when taken.
local key = P .. 'maintenance'
local held = redis.call('HMGET', key, 'owner', 'until')
if held[1] and held[1] ~= ARGV[2] and tonumber(held[2]) > tonumber(ARGV[3]) then return 0 end
redis.call('HSET', key, 'owner', ARGV[2], 'until', ARGV[4])
return 1
