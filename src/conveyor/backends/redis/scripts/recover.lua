-- Take back jobs whose lease expired. ARGV: base, now, abandoned message, stopped message
-- (each with %s for the worker's name), limit. Returns id, status, worker triples.
local now = tonumber(ARGV[2])
local recovered, ended = {}, {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', '(' .. ARGV[2], 'LIMIT', 0, ARGV[5])) do
    local job = load(id)
    if job and job.status == 'started' then
        local worker = job.worker_name or ''
        -- (a count that is not a number, set by hand, counts as 0: it must not stop every recovery)
        local retries = tonumber(job.retry_count or '0') or 0
        if job.stop_requested ~= '1' and retries < (tonumber(job.max_retries or '0') or 0) then
            local changes = requeue_fields(job, now, 'queued')
            changes.retry_count = retries + 1
            changes.status_reason = 'abandoned'
            changes.lease_token, changes.lease_expires_at, changes.started_at = NIL, NIL, NIL
            transition(job, changes)
        else
            local status = job.stop_requested == '1' and 'stopped' or 'failed'
            transition(job, {
                status = status, status_reason = status == 'stopped' and 'stopped' or 'abandoned',
                exc_info = string.format(status == 'stopped' and ARGV[4] or ARGV[3], worker), ended_at = ARGV[2],
                keep_until = failure_keep_until(job, now),
                lease_token = NIL, lease_expires_at = NIL, stop_requested = 0,
            })
            ended[#ended + 1] = id
        end
        recovered[#recovered + 1] = {id, job.status, worker}
    else  -- canceled while it ran, and its worker never stopped it: the lease is given up
        if job and still_held(job) then
            save(job, {stop_requested = 0, lease_token = NIL})
            give_up_slot(job)
        end
        redis.call('ZREM', P .. 'leases', id)
    end
end
if #ended > 0 then release_dependents(ended, now, false) end
return recovered
