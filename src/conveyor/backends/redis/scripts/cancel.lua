-- Cancel a job that has not ended. ARGV: base, now, id, keep_until (optional), enqueue_dependents.
local now, id = tonumber(ARGV[2]), ARGV[3]
local job = load(id)
if not job then return fail('NoSuchJob', id) end
if TERMINAL[job.status] then
    return fail('InvalidOperation', id, job.status, 'Cannot cancel job ' .. id .. ': it is already ' .. STATUS_MARK)
end
-- A running job keeps its lease token until its worker has stopped it (see requeue).
transition(job, {
    status = 'canceled', status_reason = 'canceled', ended_at = ARGV[2], keep_until = opt(ARGV[4]),
    stop_requested = job.status == 'started' and 1 or 0,
})
release_dependents({id}, now, ARGV[5] == '1')
return flatten(job)
