-- Refresh a worker's registration. ARGV: base, name, now, state, current job ids (JSON), jobs done,
-- jobs failed, working time (seconds), jobs stopped.
-- Returns 0 for an unknown worker, 2 for one asked to shut down, else 1.
local raw = redis.call('HGET', P .. 'workers', ARGV[2])
if not raw then return 0 end
local worker = cjson.decode(raw)
worker.last_heartbeat = ARGV[3]  -- a string: cjson would keep only 14 digits of a number
worker.state = ARGV[4]
worker.current_job_ids = cjson.decode(ARGV[5])
worker.jobs_done = tonumber(ARGV[6])
worker.jobs_failed = tonumber(ARGV[7])
worker.working_time = tonumber(ARGV[8])
worker.jobs_stopped = tonumber(ARGV[9])
redis.call('HSET', P .. 'workers', ARGV[2], cjson.encode(worker))
if worker.shutdown_requested then return 2 end
return 1
