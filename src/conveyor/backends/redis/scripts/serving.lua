-- When this Redis server began serving the namespace: the time the running server process
-- (its run_id, new at each restart and on the replica a failover promotes) was first seen.
-- ARGV: base, now. Returns false where INFO is not allowed (some managed services):
-- workers then go by their own failures alone. Allowed out of memory: one small hash.
local info = redis.pcall('INFO', 'server')
local run_id = type(info) == 'string' and string.match(info, 'run_id:(%x+)')
if not run_id then return false end
local seen = redis.call('HMGET', P .. 'server', 'run_id', 'since')
if seen[1] == run_id then return seen[2] end
redis.call('HSET', P .. 'server', 'run_id', run_id, 'since', ARGV[2])
return ARGV[2]
