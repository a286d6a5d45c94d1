-- Ask a worker to shut down: its next heartbeat says so. ARGV: base, name. Returns 0 for
-- an unknown worker, else 1.
local raw = redis.call('HGET', P .. 'workers', ARGV[2])
if not raw then return 0 end
local worker = cjson.decode(raw)
worker.shutdown_requested = true
redis.call('HSET', P .. 'workers', ARGV[2], cjson.encode(worker))
return 1
