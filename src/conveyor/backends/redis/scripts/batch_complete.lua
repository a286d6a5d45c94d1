-- Complete running batches whose jobs have all ended, with their callbacks, exactly once.
-- ARGV: base, now, limit. Returns the ids completed.
local now, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local completed, queued = {}, 0
local function settle_callback(id, run)
    local job = id and load(id)
    if not job or job.status ~= 'deferred' then return end
    if run then
        transition(job, requeue_fields(job, now, 'queued'))
        queued = queued + 1
    else
        transition(job, {
            status = 'canceled', status_reason = 'batch succeeded', ended_at = ARGV[2],
            keep_until = failure_keep_until(job, now),
        })
    end
end
for _, id in ipairs(redis.call('SMEMBERS', P .. 'batchesrunning')) do
    if #completed >= limit then break end
    local live, failed = false, false
    -- newest first: a batch still running usually has its last jobs live
    for _, job_id in ipairs(redis.call('ZREVRANGE', P .. 'batchjobs:' .. id, 0, -1)) do
        local status = redis.call('HGET', job_key(job_id), 'status')
        if status and LIVE[status] then
            live = true
            break
        end
        if status == 'failed' or status == 'stopped' then failed = true end
    end
    if not live then
        local callbacks = redis.call('HMGET', batch_key(id), 'on_complete_job', 'on_failure_job')
        settle_callback(callbacks[1], true)
        settle_callback(callbacks[2], failed)
        redis.call('HSET', batch_key(id), 'status', 'completed', 'completed_at', ARGV[2])
        redis.call('SREM', P .. 'batchesrunning', id)
        drop_batch_if_gone(id)
        completed[#completed + 1] = id
    end
end
wake(queued)
return completed
