-- Store new jobs, all or none. ARGV: base, now, count, new_ids ('1': every id was made
-- for this call, so no job holds one and none is looked up), then per job: n, its status,
-- then n field/value pairs; then, for a batch stored with its jobs, 'batch', its id, n and
-- n field/value pairs; or, for a periodic job's tick (Backend.cron_enqueue), 'tick', the
-- entry's name, the tick and catch_up ('1'): stored only if the entry's last tick is
-- earlier (with catch_up, only if it has one), the tick then recorded as its last.
-- Returns per job its stored status, or the fields of the live job holding its unique_key
-- (that job stands for it, and it is not stored); nil for a tick not stored.
local count, new_ids = tonumber(ARGV[3]), ARGV[4] == '1'
local jobs, pos = {}, 5
for r = 1, count do
    local last = pos + 1 + 2 * tonumber(ARGV[pos])
    local job = {first = pos + 2, last = last, status = ARGV[pos + 1]}
    for i = job.first, last - 1, 2 do
        if ENQUEUE_READS[ARGV[i]] then job[ARGV[i]] = ARGV[i + 1] end
    end
    pos = last + 1
    jobs[r] = job
end
local batch, tick
if ARGV[pos] == 'batch' then
    batch = {id = ARGV[pos + 1], fields = {unpack(ARGV, pos + 3, pos + 2 + 2 * tonumber(ARGV[pos + 2]))}}
elseif ARGV[pos] == 'tick' then
    tick = {entry = ARGV[pos + 1], at = ARGV[pos + 2]}
    local last = redis.call('HGET', P .. 'cron', tick.entry)
    if (not last and ARGV[pos + 3] == '1') or (last and tonumber(last) >= tonumber(tick.at)) then return false end
end
-- First check everything, so that a refusal leaves nothing half-written.
local in_batch, keys_in_batch = {}, {}
for _, job in ipairs(jobs) do
    if job.unique_key then
        job.holder = keys_in_batch[job.unique_key] or live_holder(job.unique_key)
        keys_in_batch[job.unique_key] = job.holder or job.id
    end
    -- a job standing for a live one (its unique_key's holder) has nothing to check, nothing to store
    if not job.holder then
        if in_batch[job.id] then return fail('JobIdInUse', job.id, in_batch[job.id]) end
        if not new_ids and redis.call('EXISTS', job_key(job.id)) == 1 then
            local existing = load(job.id)
            if not TERMINAL[existing.status] then return fail('JobIdInUse', job.id, existing.status) end
            if still_stopping(existing, tonumber(ARGV[2])) then
                return fail('JobIdInUse', job.id, 'canceled', 'stopping')
            end
            job.replaces = existing
        end
        if job.depends_on then
            for _, parent in ipairs(cjson.decode(job.depends_on)) do
                if not in_batch[parent] and redis.call('EXISTS', job_key(parent)) == 0 then
                    return fail('NoSuchJob', parent)
                end
            end
        end
        in_batch[job.id] = job.status
    end
end
if batch and redis.call('EXISTS', batch_key(batch.id)) == 1 then return fail('BatchIdInUse', batch.id) end
local first = next_seq(count)
local statuses, queues = {}, {}
if count > 1 then gather() end  -- the index writes of all the jobs, one command per index
for r, job in ipairs(jobs) do
    if not job.holder then
        if job.replaces then delete_job(job.replaces) end
        local seq = first + r - 1
        job.seq = string.format('%d', seq)
        if job.depends_on then  -- its unmet set: the parents not yet ended as it needs
            local seen = {}
            job.unmet = {}
            for _, parent in ipairs(cjson.decode(job.depends_on)) do
                local status = redis.call('HGET', job_key(parent), 'status')
                local met = status == 'finished' or (job.allow_dependency_failures == '1' and TERMINAL[status])
                if not met and not seen[parent] then job.unmet[#job.unmet + 1] = parent end
                seen[parent] = true
                redis.call('SADD', P .. 'dependents:' .. parent, job.id)
            end
            if #job.unmet > 0 and (job.status == 'queued' or job.status == 'scheduled') then job.status = 'deferred' end
        end
        -- One HSET per job: the status, seq and qmember set here, then the caller's fields
        -- (unpacked straight from ARGV).
        if job.status == 'queued' then
            job.qmember = queued_member(job, seq)
            redis.call('HSET', job_key(job.id), 'status', job.status, 'seq', job.seq, 'qmember', job.qmember,
                unpack(ARGV, job.first, job.last))
        else
            redis.call('HSET', job_key(job.id), 'status', job.status, 'seq', job.seq, unpack(ARGV, job.first, job.last))
        end
        if job.unmet then redis.call('HSET', job_key(job.id), 'unmet', encode_ids(job.unmet)) end
        -- A queue already holding this user is in the queues set: only queued jobs put users
        -- in a queue's users set, their enqueue put the queue in the set, and names stay there.
        if index(job, true) ~= 0 then queues[job.queue] = true end
        if job.stop_requested == '1' and job.worker_name then
            redis.call('SADD', P .. 'stops:' .. job.worker_name, job.id)
        end
        if job.unique_key then redis.call('HSET', P .. 'unique', job.unique_key, job.id) end
        if job.batch_id then zadd(P .. 'batchjobs:' .. job.batch_id, job.seq, job.id) end
        emit(job.id, job.status)
        statuses[r] = job.status
    end
end
if gathered then write_gathered() end
for r, job in ipairs(jobs) do
    if job.holder then statuses[r] = redis.call('HGETALL', job_key(job.holder)) end
end
for queue in pairs(queues) do redis.call('SADD', P .. 'queues', queue) end
if tick then redis.call('HSET', P .. 'cron', tick.entry, tick.at) end
if batch then
    local fields = {}
    for i = 1, #batch.fields, 2 do fields[batch.fields[i]] = batch.fields[i + 1] end
    redis.call('HSET', batch_key(batch.id), unpack(batch.fields))
    redis.call('ZADD', P .. 'batches', '0', batch.id)
    if fields.user_id then redis.call('ZADD', P .. 'userbatches:' .. fields.user_id, '0', batch.id) end
    if fields.status == 'scheduled' then
        redis.call('ZADD', P .. 'batchstarts', fields.scheduled_start, batch.id)
        note_due(fields.scheduled_start)
    else
        redis.call('SADD', P .. 'batchesrunning', batch.id)
    end
end
return statuses
