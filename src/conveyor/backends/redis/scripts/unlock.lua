-- Record a completed maintenance pass (the latest time wins); release the lock if this
-- owner holds it. ARGV: base, owner, now.
local key = P .. 'maintenance'
local held = redis.call('HMGET', key, 'owner', 'last')
if held[1] == ARGV[2] then redis.call('HDEL', key, 'owner', 'until') end
if not held[2] or tonumber(held[2]) < tonumber(ARGV[3]) then redis.call('HSET', key, 'last', ARGV[3]) end
return 1
