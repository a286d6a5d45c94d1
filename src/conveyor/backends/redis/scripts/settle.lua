-- Apply outcomes of claimed jobs, each only under its lease.
-- ARGV: base, now, count, then per settlement 11 values: id, token, status, started_at,
-- result, exc_info, reason, keep_until, scheduled_for (the last six optional), count_retry, delete.
local now = tonumber(ARGV[2])
local count = tonumber(ARGV[3])
local applied, ended, deletes, requeued = {}, {}, {}, 0
for i = 0, count - 1 do
    local b = 4 + i * 11
    local id, token, status = ARGV[b], ARGV[b + 1], ARGV[b + 2]
    local job = load(id)
    if job and job.status == 'started' and job.lease_token == token then
        if TERMINAL[status] then
            transition(job, {
                status = status, result = opt(ARGV[b + 4]), exc_info = opt(ARGV[b + 5]),
                status_reason = opt(ARGV[b + 6]), started_at = opt(ARGV[b + 3]) or job.started_at or NIL,
                ended_at = ARGV[2], keep_until = opt(ARGV[b + 7]), lease_token = NIL, lease_expires_at = NIL,
                stop_requested = 0,
            })
            ended[#ended + 1] = id
            if ARGV[b + 10] == '1' then deletes[#deletes + 1] = id end
        else
            transition(job, {
                status = status, seq = next_seq(), scheduled_for = opt(ARGV[b + 8]), exc_info = opt(ARGV[b + 5]),
                status_reason = opt(ARGV[b + 6]),
                retry_count = tonumber(job.retry_count or '0') + tonumber(ARGV[b + 9]),
                enqueued_at = ARGV[2], expires_at = job.ttl and (now + tonumber(job.ttl)) or NIL,
                lease_token = NIL, lease_expires_at = NIL, stop_requested = 0, started_at = NIL,
            })
            if status == 'queued' then requeued = requeued + 1 end
        end
        applied[i + 1] = 1
    else
        if job and job.lease_token == token and job.status ~= 'started' then
            save(job, {stop_requested = 0, lease_token = NIL})  -- canceled while it ran: stop handled
        end
        applied[i + 1] = 0
    end
end
if #ended > 0 then
    requeued = requeued + release_dependents(ended, now, '')
    for _, id in ipairs(deletes) do delete_job(load(id)) end
end
wake(requeued)
return applied
