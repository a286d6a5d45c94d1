-- Put failed, stopped or canceled jobs back in their queue. ARGV: base, now, at_front
-- ('' keeps each job's, '1' or '0' sets it), ids...
local now = tonumber(ARGV[2])
local moved = {}
for i = 4, #ARGV do
    local job = load(ARGV[i])
    local holder = job and job.unique_key and live_holder(job.unique_key)
    if job and ENDED_UNSUCCESSFULLY[job.status] and not still_stopping(job, now) and not holder then
        local status = 'queued'
        -- only a job canceled before it ran can still wait on parents: one that ran waits on none
        local unmet = job.status == 'canceled' and unmet_of(job) or {}
        if #unmet > 0 then
            status = 'deferred'
        elseif job.batch_id and redis.call('HGET', batch_key(job.batch_id), 'status') == 'scheduled' then
            status = 'scheduled'  -- held for the batch's starter again: it runs with its batch
        end
        local changes = requeue_fields(job, now, status)
        if ARGV[3] ~= '' then changes.at_front = ARGV[3] == '1' and '1' or NIL end
        changes.retry_count = 0
        for _, field in ipairs({'started_at', 'ended_at', 'result', 'exc_info', 'status_reason', 'keep_until',
                                'worker_name', 'scheduled_for', 'progress', 'lease_token', 'lease_expires_at'}) do
            changes[field] = NIL
        end
        changes.stop_requested = 0
        if job.depends_on then changes.unmet = encode_ids(unmet) end
        transition(job, changes)
        if job.unique_key then redis.call('HSET', P .. 'unique', job.unique_key, job.id) end
        moved[#moved + 1] = job.id
    end
end
return moved
