-- Cancel a batch: its jobs not yet ended (running ones are told to stop), its callbacks
-- and its starter. ARGV: base, now, id. Returns how many of its jobs were canceled; for a
-- running batch whose jobs have all ended, the batch's fields: it is completed instead.
local now, id = tonumber(ARGV[2]), ARGV[3]
local batch = load_batch(id)
if not batch then return fail('NoSuchBatch', id) end
if batch.status ~= 'scheduled' and batch.status ~= 'running' then
    return fail('InvalidBatch', id, batch.status, 'Cannot cancel batch ' .. id .. ': it is already ' .. STATUS_MARK)
end
if batch.status == 'running' then
    local done = complete_if_ended(id, now)
    if done then
        local completed = redis.call('HGETALL', batch_key(id))
        drop_batch_if_gone(id)
        return completed
    end
end
local function cancel(job)
    transition(job, {
        status = 'canceled', status_reason = 'canceled', ended_at = ARGV[2],
        keep_until = failure_keep_until(job, now), stop_requested = job.status == 'started' and 1 or 0,
    })
end
local canceled = {}
for _, job_id in ipairs(redis.call('ZRANGE', P .. 'batchjobs:' .. id, 0, -1)) do
    local job = load(job_id)
    if job and LIVE[job.status] then
        cancel(job)
        canceled[#canceled + 1] = job_id
    end
end
local count = #canceled  -- the batch's jobs; its callbacks canceled join the list for their dependents
for _, callback in ipairs({batch.on_complete_job or false, batch.on_failure_job or false}) do
    local job = callback and load(callback)
    if job and job.status == 'deferred' then
        cancel(job)
        canceled[#canceled + 1] = callback  -- what waits on it may allow failures
    end
end
redis.call('HSET', batch_key(id), 'status', 'canceled', 'completed_at', ARGV[2])
redis.call('ZREM', P .. 'batchstarts', id)
redis.call('SREM', P .. 'batchesrunning', id)
release_dependents(canceled, now, false)
return count
