-- Register a worker, or register it again: its JSON description under its name.
-- ARGV: base, name, description. Allowed out of memory, as heartbeats are: one small hash
-- field, and a worker that could not start on a full store could not purge it either.
redis.call('HSET', P .. 'workers', ARGV[2], ARGV[3])
return 1
