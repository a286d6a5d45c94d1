-- Repair one finding of the doctor. ARGV: base, now, kind, subject, then for 'orphan' the
-- key and member to drop. Each repair re-checks what it fixes, so a finding that a
-- concurrent write has fixed meanwhile changes nothing.
local now, kind, subject = tonumber(ARGV[2]), ARGV[3], ARGV[4]
if kind == 'orphan' then
    if redis.call('EXISTS', job_key(subject)) == 0 then
        local key, member = ARGV[5], ARGV[6]
        if redis.call('TYPE', key).ok == 'zset' then redis.call('ZREM', key, member)
        else redis.call('SREM', key, member) end
    end
    return 1
end
if kind == 'starter' then
    local status = redis.call('HGET', batch_key(subject), 'status')
    if status == 'scheduled' then
        if not redis.call('ZSCORE', P .. 'batchstarts', subject) then
            redis.call('HSET', batch_key(subject), 'scheduled_start', ARGV[2])
            redis.call('ZADD', P .. 'batchstarts', ARGV[2], subject)
            note_due(ARGV[2])  -- due now: the workers hear it rather than wait for their poll
        end
    else
        redis.call('ZREM', P .. 'batchstarts', subject)
    end
    return 1
end
local job = load(subject)
if not job then return 0 end
if kind == 'reindex' then
    -- out of every index a job can be in, then into those its status calls for
    local queue = job.queue
    if job.qmember then
        redis.call('ZREM', queued_key(queue), job.qmember)
        redis.call('ZREM', user_queued_key(queue, job.user_id or ''), job.qmember)
    end
    for _, status in ipairs({'deferred', 'scheduled', 'started', 'finished', 'failed', 'stopped', 'canceled'}) do
        status_remove(queue, status, job.id, job.user_id)
    end
    for _, key in ipairs({'due', 'leases', 'expiry', 'retention'}) do redis.call('ZREM', P .. key, job.id) end
    if job.status == 'queued' then job.qmember = nil end  -- index() computes it afresh
    index(job)
elseif kind == 'lease' and job.status == 'started' and not (job.lease_expires_at and job.lease_token) then
    unindex(job)
    save(job, {lease_expires_at = now, lease_token = job.lease_token or 'lost'})
    index(job)
elseif (kind == 'requeue') and (job.status == 'deferred' or job.status == 'scheduled') then
    local changes = requeue_fields(job, now, 'queued')
    if job.depends_on then changes.unmet = '[]' end  -- queued, it waits on nothing
    transition(job, changes)
end
return 1
