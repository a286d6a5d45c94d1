-- Apply outcomes of claimed jobs, each only under its lease.
-- ARGV: base, now, count, then per settlement 11 values: id, token, status, started_at,
-- result, exc_info, reason, keep_until, scheduled_for (the last six optional), count_retry, delete.
local now = tonumber(ARGV[2])
local count = tonumber(ARGV[3])
local ENDED_FIELDS = {[3] = 'started_at', [4] = 'result', [5] = 'exc_info', [6] = 'status_reason', [7] = 'keep_until'}
local applied, ended, deletes = {}, {}, {}

-- started -> ended, the hot path of every worker: what transition() would do, but
-- touching only the fields and indexes that change, the index writes gathered (one
-- command per index for the whole batch).
local function settle_ended(id, b, held)
    local key, queue, status = job_key(id), held[3], ARGV[b + 2]
    status_remove_later(queue, 'started', id, held[8])
    zrem_later(P .. 'leases', id)
    if held[5] == '1' and held[6] then redis.call('SREM', P .. 'stops:' .. held[6], id) end
    local sets = {'status', status, 'ended_at', ARGV[2]}
    if held[5] ~= '0' then  -- (a claim writes '0': one field fewer to find)
        sets[#sets + 1] = 'stop_requested'
        sets[#sets + 1] = '0'
    end
    local dels = {'lease_token', 'lease_expires_at'}
    for offset = 3, 7 do
        local value = opt(ARGV[b + offset])
        if value then
            sets[#sets + 1] = ENDED_FIELDS[offset]
            sets[#sets + 1] = value
        elseif offset ~= 3 then  -- no start time given: keep the claim's
            dels[#dels + 1] = ENDED_FIELDS[offset]
        end
    end
    redis.call('HSET', key, unpack(sets))
    redis.call('HDEL', key, unpack(dels))
    status_add(queue, status, held[4], id, held[8])
    local keep_until = opt(ARGV[b + 7])
    if keep_until then zadd(P .. 'retention', keep_until, id) end
    emit(id, status)
    count_ended(status, opt(ARGV[b + 3]) or held[7], now)
end

-- A settle frees the slots of the jobs it ends: the function of each is read (it costs a
-- fortieth of the settle) only while a held job may wait for one (see slot_freed).
local marked = any_held()
gather()
for i = 0, count - 1 do
    local b = 4 + i * 11
    local id, token, status = ARGV[b], ARGV[b + 1], ARGV[b + 2]
    local held = marked and redis.call('HMGET', job_key(id), 'status', 'lease_token', 'queue', 'seq', 'stop_requested',
                                       'worker_name', 'started_at', 'user_id', 'func_name')
        or redis.call('HMGET', job_key(id), 'status', 'lease_token', 'queue', 'seq', 'stop_requested', 'worker_name',
                      'started_at', 'user_id')
    if held[1] == 'started' and held[2] == token then
        if TERMINAL[status] then
            settle_ended(id, b, held)
            if marked then slot_freed(held[3], held[8], held[9]) end
            ended[#ended + 1] = id
            if ARGV[b + 10] == '1' then deletes[#deletes + 1] = id end
        else
            local job = load(id)
            -- a released job goes back to its place (seq, enqueued_at and expiry kept)
            local changes = ARGV[b + 6] == '=' .. RELEASED and {status = status} or requeue_fields(job, now, status)
            changes.scheduled_for, changes.exc_info, changes.status_reason = opt(ARGV[b + 8]), opt(ARGV[b + 5]),
                opt(ARGV[b + 6])
            -- a count set by hand that is no number counts as 0: one job must not hold back a batch
            changes.retry_count = (tonumber(job.retry_count or '0') or 0) + tonumber(ARGV[b + 9])
            changes.lease_token, changes.lease_expires_at, changes.started_at = NIL, NIL, NIL
            changes.stop_requested = 0
            transition(job, changes)  -- (which gives up its slot)
        end
        applied[i + 1] = 1
    else
        if held[2] == token and held[1] then  -- canceled while it ran: stop handled, lease and slots given up
            redis.call('ZREM', P .. 'leases', id)
            local job = load(id)
            save(job, {stop_requested = 0, lease_token = NIL})
            give_up_slot(job)
        end
        applied[i + 1] = 0
    end
end
write_removals()
write_gathered()
if #ended > 0 then
    release_dependents(ended, now, false)
    for _, id in ipairs(deletes) do delete_job(load(id)) end
end
return applied
