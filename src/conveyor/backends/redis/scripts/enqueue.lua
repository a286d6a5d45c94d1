-- Store new jobs, all or none. ARGV: base, now, count, then per job: n, n field/value pairs.
local now = tonumber(ARGV[2])
local count = tonumber(ARGV[3])
local jobs, pos = {}, 4
for r = 1, count do
    local n = tonumber(ARGV[pos])
    local job = {}
    for i = pos + 1, pos + 2 * n, 2 do job[ARGV[i]] = ARGV[i + 1] end
    pos = pos + 2 * n + 1
    jobs[r] = job
end
-- First check everything, so that a refusal leaves nothing half-written.
local in_batch = {}
for _, job in ipairs(jobs) do
    if in_batch[job.id] then return fail('JobIdInUse', job.id, in_batch[job.id]) end
    local existing = load(job.id)
    if existing then
        if not TERMINAL[existing.status] then return fail('JobIdInUse', job.id, existing.status) end
        if still_stopping(existing, now) then
            return fail('JobIdInUse', job.id, 'canceled job still stopping on its worker')
        end
    end
    for _, parent in ipairs(cjson.decode(job.depends_on or '[]')) do
        if not in_batch[parent] and redis.call('EXISTS', job_key(parent)) == 0 then
            return fail('NoSuchJob', parent)
        end
    end
    in_batch[job.id] = job.status
end
local first = next_seq(count)
local queued, statuses = 0, {}
for r, job in ipairs(jobs) do
    local existing = load(job.id)
    if existing then delete_job(existing) end
    job.seq = tostring(first + r - 1)
    local parents = cjson.decode(job.depends_on or '[]')
    if #parents > 0 then
        local unmet = false
        for _, parent in ipairs(parents) do
            local status = redis.call('HGET', job_key(parent), 'status')
            local met = status == 'finished' or (job.allow_dependency_failures == '1' and TERMINAL[status])
            if not met then unmet = true end
            redis.call('SADD', P .. 'dependents:' .. parent, job.id)
        end
        if unmet and (job.status == 'queued' or job.status == 'scheduled') then job.status = 'deferred' end
    end
    redis.call('HSET', job_key(job.id), unpack(flatten(job)))
    redis.call('SADD', P .. 'queues', job.queue)
    index(job)
    if job.stop_requested == '1' and job.worker_name then
        redis.call('SADD', P .. 'stops:' .. job.worker_name, job.id)
    end
    if job.status == 'queued' then queued = queued + 1 end
    statuses[r] = job.status
end
wake(queued)
return statuses
