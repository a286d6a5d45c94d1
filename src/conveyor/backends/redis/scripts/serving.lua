-- When this Redis server began serving the namespace: the time the running server process
-- (its run_id, new at each restart and on the replica a failover promotes) was first seen.
-- ARGV: base, now. Writing the run_id is allowed out of memory: it is one small hash.
local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
local seen = redis.call('HMGET', P .. 'server', 'run_id', 'since')
if seen[1] == run_id then return seen[2] end
redis.call('HSET', P .. 'server', 'run_id', run_id, 'since', ARGV[2])
return ARGV[2]
