-- Shared by every conveyor function: key names, job loading, status indexes, events.
-- KEYS[1] is the namespace's sequence key (it routes the call); ARGV[1] the key base.
-- The library defines all this once, when it is loaded. Each call sets KEYS, ARGV and P,
-- resets the per-call state (begin), runs its body, then publish() writes what the body
-- noted (see scripts.py), so no function can change a job without publishing it.
local KEYS, ARGV, P
local TERMINAL = {finished = true, failed = true, stopped = true, canceled = true}
local ENDED_UNSUCCESSFULLY = {failed = true, stopped = true, canceled = true}
local NIL = false

local function job_key(id) return P .. 'job:' .. id end
local function status_key(queue, status) return P .. 'status:' .. queue .. ':' .. status end

-- The queued indexes' key names, made once and looked up after: every enqueue and claim
-- names them for each job, and making a name costs more than looking it up. Kept across
-- calls for one key base (a name is its base and queue, and user), at most a thousand.
local queue_keys, queue_keys_base, names_made = {}, nil, 0
local function note_made()
    names_made = names_made + 1
    if names_made > 1000 then queue_keys, names_made = {}, 0 end
end
local function keys_of(queue)
    if queue_keys_base ~= P then queue_keys, queue_keys_base, names_made = {}, P, 0 end
    local keys = queue_keys[queue]
    if not keys then
        note_made()
        -- byuser: a user's queued jobs ('' for jobs without a user), for fair share; the
        -- queue's length in front keeps names apart whatever they hold
        keys = {queued = P .. 'queued:' .. queue, users = P .. 'users:' .. queue, byuser = {},
                byuser_prefix = P .. 'byuser:' .. #queue .. ':' .. queue .. ':', wake = P .. 'wake:' .. queue}
        queue_keys[queue] = keys
    end
    return keys
end
local function queued_key(queue) return keys_of(queue).queued end
local function users_key(queue) return keys_of(queue).users end
local function user_queued_key(queue, user)
    local keys = keys_of(queue)
    local key = keys.byuser[user]
    if not key then
        key = keys.byuser_prefix .. user
        note_made()
        keys.byuser[user] = key
    end
    return key
end
-- One user's jobs of a queue in one status (every status but queued: byuser holds those),
-- for listings and counts confined to a user. Statuses hold no ':', so the last part is it.
local function user_status_key(queue, user, status)
    return P .. 'ustatus:' .. #queue .. ':' .. queue .. ':' .. user .. ':' .. status
end

-- Wake-ups: each job made ready (indexed as queued, whichever function did it) counts
-- towards a token on its queue's wake-up list, pushed by publish(), that the idle
-- workers serving the queue block on. Per queue, so that a worker of other queues
-- never takes a token meant for another's job. At most WAKE_TOKENS_KEPT (16) wait per
-- queue: the list is full while every worker is busy, and reading its length then costs
-- less than pushing and trimming.
local woken  -- queue -> jobs made ready by this call (nil for none, as most calls)
local function note_ready(queue, count)
    woken = woken or {}
    woken[queue] = (woken[queue] or 0) + (count or 1)
end
local function wake_all()
    for queue, count in pairs(woken) do
        local key = keys_of(queue).wake
        local room = math.min(count, WAKE_TOKENS_KEPT - redis.call('LLEN', key))
        -- a paused queue's workers would claim nothing: its resume wakes them (its pause
        -- emptied the list, so a full list, every worker busy, needs no look)
        if room > 0 and redis.call('HEXISTS', P .. 'paused', queue) == 1 then room = 0 end
        if room == 1 then
            redis.call('LPUSH', key, '1')
        elseif room > 1 then
            local tokens = {}
            for i = 1, room do tokens[i] = '1' end
            redis.call('LPUSH', key, unpack(tokens))
        end
    end
end

-- Limits (see conveyor/backends/held.py): a claim that leaves a job queued for a full
-- limit marks that limit in the heldby hash (limit -> its queues, '\n'-separated; names
-- hold no control characters). A running job giving up its slot (settled, recovered,
-- deleted, requeued) frees a slot of each limit it counts against; at publish(), the
-- marks of those limits go, and their queues get a token per slot freed: the worker
-- whose job ended may not serve them (limits span queues), and no enqueue would come.
-- A slot of another user's job leaves a per-user mark, and its workers, alone.
local marked  -- whether any limit is marked (nil: not read yet in this call)
local function any_held()
    if marked == nil then marked = redis.call('EXISTS', P .. 'heldby') == 1 end
    return marked
end
-- queue -> function -> user ('' for none) -> slots of such jobs given up by this call
-- (nil for none): most slots freed together share their queue and function
local freed
local function slot_freed(queue, user, func)
    if not any_held() then return end  -- most calls: no slot is waited for
    freed = freed or {}
    local by_func = freed[queue]
    if not by_func then
        by_func = {}
        freed[queue] = by_func
    end
    local by_user = by_func[func]
    if not by_user then
        by_user = {}
        by_func[func] = by_user
    end
    user = user or ''
    by_user[user] = (by_user[user] or 0) + 1
end

-- A hash's values for many fields (a command per 4000: well under Lua's limit for unpack).
local function hmget_all(key, fields)
    local values = {}
    for i = 1, #fields, 4000 do
        local got = redis.call('HMGET', key, unpack(fields, i, math.min(i + 3999, #fields)))
        for j = 1, #got do values[i + j - 1] = got[j] end
    end
    return values
end

local function split_lines(text)
    local lines = {}
    for line in string.gmatch(text, '[^\n]+') do lines[#lines + 1] = line end
    return lines
end

-- Mark limits as holding jobs of queues (holds: limit -> {queue = true}).
local function mark_held(holds)
    local key, limits = P .. 'heldby', {}
    for limit in pairs(holds) do limits[#limits + 1] = limit end
    local listed, writes = hmget_all(key, limits), {}
    for i, limit in ipairs(limits) do
        local queues, known = listed[i] and split_lines(listed[i]) or {}, {}
        for _, queue in ipairs(queues) do known[queue] = true end
        local before = #queues
        for queue in pairs(holds[limit]) do
            if not known[queue] then queues[#queues + 1] = queue end
        end
        if #queues > before then
            writes[#writes + 1] = limit
            writes[#writes + 1] = table.concat(queues, '\n')
        end
    end
    if #writes > 0 then redis.call('HSET', key, unpack(writes)) end
end

local function wake_held()
    local key = P .. 'heldby'
    -- each limit named once; per kind of slot freed, how many and its limits' places
    local limits, at, slots = {}, {}, {}
    local function place(limit)
        if not at[limit] then
            limits[#limits + 1] = limit
            at[limit] = #limits
        end
        return at[limit]
    end
    for queue, by_func in pairs(freed) do
        for func, by_user in pairs(by_func) do
            for user, count in pairs(by_user) do
                local slot = {count, place(HELD_GLOBAL), place(HELD_QUEUE .. queue), place(HELD_TYPE .. func)}
                if user ~= '' then slot[5] = place(HELD_USER .. user) end
                slots[#slots + 1] = slot
            end
        end
    end
    local listed, gone = hmget_all(key, limits), {}
    for i = 1, #limits do
        if listed[i] then
            listed[i] = split_lines(listed[i])
            gone[#gone + 1] = limits[i]
        end
    end
    if #gone == 0 then return end  -- none of these slots is one a held job waits for
    for _, slot in ipairs(slots) do
        local queues = {}  -- a token per slot to each queue, whichever of its limits held it
        for k = 2, #slot do
            for _, queue in ipairs(listed[slot[k]] or {}) do queues[queue] = true end
        end
        for queue in pairs(queues) do note_ready(queue, slot[1]) end
    end
    for i = 1, #gone, 4000 do redis.call('HDEL', key, unpack(gone, i, math.min(i + 3999, #gone))) end
end

-- Due-time announcements: a call that puts a job or a batch start on a time (or, a claim,
-- the time a rate's window frees for the jobs it held: ratedue) notes it, and
-- publish() tells the workers' housekeepers (subscribed to the due channel) the store's
-- earliest due time, when the time noted is it: a later one tells them nothing new. A
-- publish that fails (an ACL without the channel) is ignored: the poll finds the job.
local due_noted  -- the earliest time this call put something on (nil for none, as most calls)
local function note_due(at)
    at = tonumber(at)
    if not due_noted or at < due_noted then due_noted = at end
end
local function announce_due()
    for _, key in ipairs({P .. 'due', P .. 'batchstarts', P .. 'ratedue'}) do
        local head = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]
        if head and tonumber(head) < due_noted then return end
    end
    redis.pcall('PUBLISH', P .. 'signal:due', string.format('%.17g', due_noted))
end

-- The fields of a new job that enqueue reads; the rest go from ARGV to the hash untouched.
-- (A library constant: a table built in the function's body is built at every call.)
local ENQUEUE_READS = {
    id = true, queue = true, priority = true, depends_on = true, allow_dependency_failures = true,
    expires_at = true, scheduled_for = true, keep_until = true, lease_expires_at = true, stop_requested = true,
    worker_name = true, user_id = true, unique_key = true, batch_id = true, at_front = true,
}

-- Optional arguments arrive as '' (none) or '=' .. value.
local function opt(s)
    if s == nil or s == '' then return NIL end
    return string.sub(s, 2)
end

local function num(s)
    if not s then return nil end
    return tonumber(s)
end

-- INCRBY, or INCR to add one: Redis turns a number argument into text with a '%.17g'
-- formatting, which costs as much as the command (constant numbers are passed as text).
local function incr(key, by)
    if by == 1 then return redis.call('INCR', key) end
    return redis.call('INCRBY', key, by)
end

local function next_seq(count)
    count = count or 1
    return incr(KEYS[1], count) - count + 1
end

-- A hash's fields as a table, or nil when it does not exist.
local function load_hash(key)
    local flat = redis.call('HGETALL', key)
    if #flat == 0 then return nil end
    local fields = {}
    for i = 1, #flat, 2 do fields[flat[i]] = flat[i + 1] end
    return fields
end

-- A job's stored fields as a table, or nil.
local function load(id) return load_hash(job_key(id)) end

-- Queued jobs sort by the member: inverted priority, then sequence (``seq``, a number),
-- then id. An at_front job's member has a '-' after the priority, which sorts before
-- every hex digit, then its seq inverted: it comes before the other jobs of its
-- priority, the one queued last first (RQ's LPUSH). See member_parts.
local SEQ_LIMIT = 9007199254740991  -- 2^53 - 1: no seq reaches it
local function queued_member(job, seq)
    local priority = job.priority and tonumber(job.priority) or 0
    if job.at_front == '1' then
        return string.format('%08x-%016x|', 2147483647 - priority, SEQ_LIMIT - seq) .. job.id
    end
    return string.format('%08x%016x|', 2147483647 - priority, seq) .. job.id
end

-- A queued index member's seq and job id.
local function member_parts(member)
    if string.byte(member, 9) == 45 then  -- '-': an at_front job's
        return SEQ_LIMIT - tonumber(string.sub(member, 10, 25), 16), string.sub(member, 27)
    end
    return tonumber(string.sub(member, 9, 24), 16), string.sub(member, 26)
end

-- Job events: ids grouped by new status ('' for another change or a deletion), one
-- stream entry per group. A job's events keep their order: a job goes to a later group
-- than the one holding its previous event.
local event_groups, event_group_of_status, event_group_of_job
local function emit(id, status)
    status = status or ''
    local group, previous = event_group_of_status[status], event_group_of_job[id]
    if group and previous == group.n then return end  -- already its latest event
    if not group or (previous and previous > group.n) then
        group = {n = #event_groups + 1, status = status}
        event_groups[group.n] = group
        event_group_of_status[status] = group
    end
    group[#group + 1] = id
    event_group_of_job[id] = group.n
end

-- Jobs that ended, for throughput(): finished or failed (runtime: seconds from start to
-- end, summed), and stopped or canceled (REST's cancelled).
local ended_runs
local gathered  -- see gather()
local removals  -- see zrem_later()
local function count_ended(status, started_at, now)
    if not TERMINAL[status] then return end
    ended_runs = ended_runs or {finished = 0, failed = 0, cancelled = 0, runtime = 0}
    ended_runs.now = now
    if status == 'stopped' or status == 'canceled' then
        ended_runs.cancelled = ended_runs.cancelled + 1
        return
    end
    ended_runs[status] = ended_runs[status] + 1
    if started_at then ended_runs.runtime = ended_runs.runtime + math.max(0, now - tonumber(started_at)) end
end

-- Stream entry ids are '<events published so far, this entry's included>-0', so a
-- cursor is an event number and trimming by id keeps at least EVENTS_KEPT events. The
-- number so far is a counter beside the stream (an INCRBY costs a quarter of reading
-- the stream's last entry back into Lua); a counter at zero, as before the first event
-- or when it was lost, is set from the stream's last entry.
local function publish_events()
    local key, counter, count = P .. 'events', P .. 'events:total', 0
    for _, group in ipairs(event_groups) do count = count + #group end
    local total = incr(counter, count) - count
    if total == 0 then
        local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)[1]
        total = last and tonumber(string.match(last[1], '^%d+')) or 0
        redis.call('SET', counter, string.format('%d', total + count))
    end
    for _, group in ipairs(event_groups) do
        total = total + #group
        redis.call('XADD', key, string.format('%d-0', total), 'status', group.status, 'ids', table.concat(group, '\n'))
    end
    -- Trimming (whole stream nodes: '~') once the count passes a multiple of 100 is soon
    -- enough, and spares the other calls its cost.
    if total % 100 < count then
        redis.call('XTRIM', key, 'MINID', '~', string.format('%d', math.max(total - EVENTS_KEPT, 0)))
    end
end

-- Per-minute counters (purge.lua drops old minutes).
local function publish_throughput()
    local key, minute = P .. 'throughput', string.format('%d', math.floor(ended_runs.now / 60))
    if ended_runs.finished > 0 then redis.call('HINCRBY', key, minute .. ':f', ended_runs.finished) end
    if ended_runs.failed > 0 then redis.call('HINCRBY', key, minute .. ':x', ended_runs.failed) end
    if ended_runs.cancelled > 0 then redis.call('HINCRBY', key, minute .. ':c', ended_runs.cancelled) end
    if ended_runs.runtime > 0 then
        redis.call('HINCRBYFLOAT', key, minute .. ':t', string.format('%.17g', ended_runs.runtime))
    end
end

-- Index removals gathered per key, for a script that takes many jobs out of the same
-- indexes (claim, settle): one ZREM per key instead of one per job. The script writes
-- them (write_removals) before anything reads those indexes again; publish() writes
-- what is left, so none is lost.
local function zrem_later(key, member)
    local members = removals[key]
    if not members then
        members = {}
        removals[key] = members
    end
    members[#members + 1] = member
end

local function write_removals()
    local step = 4000  -- members per command, well under Lua's limit for unpack
    for key, members in pairs(removals) do
        for i = 1, #members, step do redis.call('ZREM', key, unpack(members, i, math.min(i + step - 1, #members))) end
    end
    removals = {}
end

-- A call's state starts empty: the library's locals outlive each call.
local function begin(keys, args)
    KEYS, ARGV, P = keys, args, args[1]
    event_groups, event_group_of_status, event_group_of_job = {}, {}, {}
    gathered = nil
    removals = {}
    ended_runs = nil  -- made by the first count_ended: most calls end no run
    woken = nil
    due_noted = nil
    marked, freed = nil, nil
end

local function publish()
    if next(removals) then write_removals() end
    if #event_groups > 0 then publish_events() end
    if ended_runs then publish_throughput() end
    if freed then wake_held() end
    if woken then wake_all() end
    if due_noted then announce_due() end
end

-- Index additions, written at once or, while a script stores many jobs, gathered per
-- key and written with one command per key (one call into Redis costs as much as the
-- index write itself). Nothing may read these indexes before the gathered writes.
local function gather() gathered = {zsets = {}, sets = {}} end

local function zadd(key, score, member)
    if not gathered then return redis.call('ZADD', key, score, member) end
    local args = gathered.zsets[key]
    if not args then
        args = {}
        gathered.zsets[key] = args
    end
    args[#args + 1] = score
    args[#args + 1] = member
end

local function sadd(key, member)
    if not gathered then return redis.call('SADD', key, member) end
    local members = gathered.sets[key]
    if not members then
        members = {}
        gathered.sets[key] = members
    end
    members[member] = true
end

local function write_gathered()
    local step = 4000  -- values per command, well under Lua's limit for unpack
    for key, args in pairs(gathered.zsets) do
        for i = 1, #args, step do redis.call('ZADD', key, unpack(args, i, math.min(i + step - 1, #args))) end
    end
    for key, members in pairs(gathered.sets) do
        local list = {}
        for member in pairs(members) do list[#list + 1] = member end
        for i = 1, #list, step do redis.call('SADD', key, unpack(list, i, math.min(i + step - 1, #list))) end
    end
    gathered = nil
end

-- A job into (out of) its status index and, when it has a user, that user's.
local function status_add(queue, status, seq, id, user)
    zadd(status_key(queue, status), seq, id)
    if user then zadd(user_status_key(queue, user, status), seq, id) end
end

local function status_remove(queue, status, id, user)
    redis.call('ZREM', status_key(queue, status), id)
    if user then redis.call('ZREM', user_status_key(queue, user, status), id) end
end

-- status_remove with its removals gathered (zrem_later), for a script ending many jobs.
local function status_remove_later(queue, status, id, user)
    zrem_later(status_key(queue, status), id)
    if user then zrem_later(user_status_key(queue, user, status), id) end
end

-- A job canceled while it ran whose worker has not stopped it yet (its settle, refused,
-- clears the stop) nor lost its lease to recovery: it stays in the lease index, where
-- claims count it against the limits, since it runs on until its worker hears of it.
local function still_held(job)
    return job.status == 'canceled' and job.stop_requested == '1' and job.lease_token ~= nil
end

-- Whether a job counts against the limits: started, or still_held.
local function holds_slot(job) return job.status == 'started' or still_held(job) end

-- A job that held a slot and no longer does gives it up (see slot_freed).
local function give_up_slot(job) slot_freed(job.queue, job.user_id, job.func_name) end

local function unindex(job)
    local id, queue, status = job.id, job.queue, job.status
    if status == 'queued' then
        -- qmember stays in the hash (read only while queued): one call fewer per claim
        if job.qmember then
            redis.call('ZREM', queued_key(queue), job.qmember)
            redis.call('ZREM', user_queued_key(queue, job.user_id or ''), job.qmember)
        end
        if job.expires_at then redis.call('ZREM', P .. 'expiry', id) end
        return
    end
    status_remove(queue, status, id, job.user_id)
    if status == 'scheduled' then
        redis.call('ZREM', P .. 'due', id)
    elseif holds_slot(job) then
        redis.call('ZREM', P .. 'leases', id)
    end
    if TERMINAL[status] then redis.call('ZREM', P .. 'retention', id) end
end

-- ``member_stored``: the caller has already written qmember into the hash. Returns, for
-- a queued job written at once, the SADD's reply: 0 when its user was known to the queue.
local function index(job, member_stored)
    local id, queue, status = job.id, job.queue, job.status
    if status == 'queued' then
        if not member_stored then
            job.qmember = queued_member(job, tonumber(job.seq))
            redis.call('HSET', job_key(id), 'qmember', job.qmember)
        end
        zadd(queued_key(queue), '0', job.qmember)
        zadd(user_queued_key(queue, job.user_id or ''), '0', job.qmember)
        local added = sadd(users_key(queue), job.user_id or '')
        note_ready(queue)
        if job.expires_at then zadd(P .. 'expiry', job.expires_at, id) end
        return added
    end
    status_add(queue, status, job.seq, id, job.user_id)
    if status == 'scheduled' then
        -- a job of a scheduled batch has no time of its own: the batch's starter holds it
        if job.scheduled_for then
            zadd(P .. 'due', job.scheduled_for, id)
            note_due(job.scheduled_for)
        end
    elseif holds_slot(job) then
        zadd(P .. 'leases', job.lease_expires_at or 0, id)
    end
    if TERMINAL[status] and job.keep_until then zadd(P .. 'retention', job.keep_until, id) end
end

-- A value as stored: numbers with every digit (tostring keeps only 14).
local function stored(value)
    if type(value) == 'number' then return string.format('%.17g', value) end
    return tostring(value)
end

-- Apply changes (NIL deletes a field), keeping the stop-request sets in step.
local function save(job, changes)
    local old_worker, old_stop = job.worker_name, job.stop_requested
    local sets, dels = {}, {}
    for field, value in pairs(changes) do
        if value == NIL then
            job[field] = nil
            dels[#dels + 1] = field
        else
            job[field] = stored(value)
            sets[#sets + 1] = field
            sets[#sets + 1] = job[field]
        end
    end
    if #sets > 0 then redis.call('HSET', job_key(job.id), unpack(sets)) end
    if #dels > 0 then redis.call('HDEL', job_key(job.id), unpack(dels)) end
    if old_stop == '1' and old_worker then redis.call('SREM', P .. 'stops:' .. old_worker, job.id) end
    if job.stop_requested == '1' and job.worker_name then
        redis.call('SADD', P .. 'stops:' .. job.worker_name, job.id)
    end
end

-- (A job that ends here is counted in the throughput: each ending sets ended_at.)
local function transition(job, changes)
    local held, ended_before = holds_slot(job), TERMINAL[job.status]
    unindex(job)
    save(job, changes)
    index(job)
    emit(job.id, job.status)
    if held and not holds_slot(job) then give_up_slot(job) end
    if not ended_before then count_ended(job.status, job.started_at, tonumber(job.ended_at)) end
end

-- The id of the live (not ended) job holding a unique key, or nil.
local function live_holder(unique_key)
    local holder = redis.call('HGET', P .. 'unique', unique_key)
    if not holder then return nil end
    local status = redis.call('HGET', job_key(holder), 'status')
    if status and not TERMINAL[status] then return holder end
    return nil
end

local function batch_key(id) return P .. 'batch:' .. id end

-- An ended batch goes once none of its jobs is left (retention or a delete took the last),
-- so batches do not pile up forever.
local function drop_batch_if_gone(batch_id)
    if redis.call('EXISTS', P .. 'batchjobs:' .. batch_id) == 1 then return end
    local batch = redis.call('HMGET', batch_key(batch_id), 'status', 'user_id')
    if batch[1] ~= 'completed' and batch[1] ~= 'canceled' then return end
    redis.call('DEL', batch_key(batch_id))
    redis.call('ZREM', P .. 'batches', batch_id)
    if batch[2] then redis.call('ZREM', P .. 'userbatches:' .. batch[2], batch_id) end
end

local function delete_job(job)
    if holds_slot(job) then give_up_slot(job) end
    unindex(job)
    if job.batch_id then
        redis.call('ZREM', P .. 'batchjobs:' .. job.batch_id, job.id)
        drop_batch_if_gone(job.batch_id)
    end
    if job.unique_key and redis.call('HGET', P .. 'unique', job.unique_key) == job.id then
        redis.call('HDEL', P .. 'unique', job.unique_key)
    end
    if job.stop_requested == '1' and job.worker_name then
        redis.call('SREM', P .. 'stops:' .. job.worker_name, job.id)
    end
    for _, parent in ipairs(cjson.decode(job.depends_on or '[]')) do
        redis.call('SREM', P .. 'dependents:' .. parent, job.id)
    end
    redis.call('DEL', job_key(job.id))
    emit(job.id, nil)
end

-- Whether a parent that ended in ``status`` is met for a child (RQ's rule): finished, or
-- ended in any way for a child that allows dependency failures.
local function parent_met(child, status)
    return status == 'finished' or (child.allow_dependency_failures == '1' and ENDED_UNSUCCESSFULLY[status] == true)
end

-- A job's unmet set as stored in its ``unmet`` field: a JSON list ('[]' when empty, which
-- cjson would write as '{}').
local function encode_ids(ids)
    if #ids == 0 then return '[]' end
    return cjson.encode(ids)
end

-- The parents a job still waits on: its ``unmet`` field, kept by enqueue and
-- release_dependents. A job stored before conveyor kept it gets it from its parents'
-- current status, read as the release rule read them then (a parent gone counts as met);
-- so does one whose field was garbled by hand (the doctor reports it): a settle that
-- releases it must not fail.
local function unmet_of(job)
    if job.unmet then
        local ok, unmet = pcall(cjson.decode, job.unmet)
        if ok and type(unmet) == 'table' then return unmet end
    end
    local unmet = {}
    for _, parent in ipairs(cjson.decode(job.depends_on or '[]')) do
        local status = redis.call('HGET', job_key(parent), 'status')
        if status and not parent_met(job, status) then unmet[#unmet + 1] = parent end
    end
    return unmet
end

local function still_stopping(job, now)
    return job.lease_token ~= nil and job.lease_expires_at ~= nil and tonumber(job.lease_expires_at) >= now
end

-- Until when a job that ends unsuccessfully now is kept (failure_ttl: absent is the
-- default, '' is forever).
local function failure_keep_until(job, now)
    local ttl = job.failure_ttl or DEFAULT_FAILURE_TTL
    if ttl == '' then return NIL end
    return now + tonumber(ttl)
end

local function requeue_fields(job, now, status)
    return {
        status = status, seq = next_seq(), enqueued_at = ARGV[2],
        expires_at = job.ttl and (now + tonumber(job.ttl)) or NIL,
    }
end

-- One ended parent of release_dependents: off the sets of the children it met, noting
-- those changed (``children``: the children loaded so far, by id).
local function take_off_unmet_sets(parent, children, changed, for_all)
    local ids = redis.call('SMEMBERS', P .. 'dependents:' .. parent)
    local status = #ids > 0 and redis.call('HGET', job_key(parent), 'status')
    for _, child_id in ipairs(ids) do
        if children[child_id] == nil then children[child_id] = load(child_id) or false end
        local child = children[child_id]
        if child and (child.status == 'deferred' or child.status == 'canceled')
            and (for_all or parent_met(child, status)) then
            local left = {}
            for _, id in ipairs(child.waits_on or unmet_of(child)) do
                if id ~= parent then left[#left + 1] = id end
            end
            if not child.waits_on then changed[#changed + 1] = child end
            child.waits_on = left
        end
    end
end

-- Take these ended parents off their children's unmet sets: a finished one off every set,
-- one failed, stopped or canceled off those of children that allow failures (``for_all``:
-- off every set); then queue (or schedule) the deferred children left waiting on none.
-- Only deferred and canceled children can wait (a canceled one is deferred again if
-- requeued while it waits). A parent deleted before it ended is never taken off.
local function release_dependents(parents, now, for_all)
    local children, changed, step = {}, {}, 1000
    for first = 1, #parents, step do
        local last = math.min(first + step - 1, #parents)
        local keys = {}
        for i = first, last do keys[#keys + 1] = P .. 'dependents:' .. parents[i] end
        -- most jobs have none: one EXISTS for a thousand parents, rather than a read of each
        if #keys == 1 or redis.call('EXISTS', unpack(keys)) > 0 then
            for i = first, last do take_off_unmet_sets(parents[i], children, changed, for_all) end
        end
    end
    table.sort(changed, function(a, b) return tonumber(a.seq) < tonumber(b.seq) end)  -- in the order enqueued
    for _, child in ipairs(changed) do
        local unmet = encode_ids(child.waits_on)
        if child.status == 'deferred' and unmet == '[]' then
            local later = child.scheduled_for and tonumber(child.scheduled_for) > now
            local changes = requeue_fields(child, now, later and 'scheduled' or 'queued')
            changes.unmet = unmet
            transition(child, changes)
        elseif unmet ~= child.unmet then
            save(child, {unmet = unmet})
        end
    end
end

-- Where a status error's message names the status (conveyor.exceptions.STATUS_MARK).
local STATUS_MARK = '\31'

local function fail(kind, ...)
    return redis.error_reply('CONVEYOR ' .. kind .. ' ' .. table.concat({...}, '\t'))
end

local function flatten(job)
    local flat = {}
    for field, value in pairs(job) do
        flat[#flat + 1] = field
        flat[#flat + 1] = value
    end
    return flat
end

-- Batches: a hash per batch, its jobs by seq, one starter entry while it is scheduled.
local LIVE = {queued = true, deferred = true, scheduled = true, started = true}

local function load_batch(id) return load_hash(batch_key(id)) end

-- Queue the batch's jobs still held for its starter, in their order; the batch runs.
local function release_held(batch_id, now)
    for _, id in ipairs(redis.call('ZRANGE', P .. 'batchjobs:' .. batch_id, 0, -1)) do
        local job = load(id)
        if job and job.status == 'scheduled' and not job.scheduled_for then
            transition(job, requeue_fields(job, now, 'queued'))
        end
    end
    redis.call('HSET', batch_key(batch_id), 'status', 'running', 'started_at', ARGV[2])
    redis.call('ZREM', P .. 'batchstarts', batch_id)
    redis.call('SADD', P .. 'batchesrunning', batch_id)
end

-- A running batch whose jobs have all ended: completed, its callbacks queued (on_complete;
-- on_failure if a job failed) or canceled, exactly once. Returns whether it was. (The caller drops it if no job is left: drop_batch_if_gone.)
local function complete_if_ended(id, now)
    local failed = false
    -- newest first: a batch still running usually has its last jobs live
    for _, job_id in ipairs(redis.call('ZREVRANGE', P .. 'batchjobs:' .. id, 0, -1)) do
        local status = redis.call('HGET', job_key(job_id), 'status')
        if status and LIVE[status] then return false end
        if status == 'failed' or status == 'stopped' then failed = true end
    end
    local function settle_callback(callback_id, run)
        local job = callback_id and load(callback_id)
        if not job or job.status ~= 'deferred' then return end
        if run then
            transition(job, requeue_fields(job, now, 'queued'))
        else
            transition(job, {
                status = 'canceled', status_reason = 'batch succeeded', ended_at = ARGV[2],
                keep_until = failure_keep_until(job, now),
            })
            release_dependents({callback_id}, now, false)  -- those that allow failures
        end
    end
    local callbacks = redis.call('HMGET', batch_key(id), 'on_complete_job', 'on_failure_job')
    settle_callback(callbacks[1], true)
    settle_callback(callbacks[2], failed)
    redis.call('HSET', batch_key(id), 'status', 'completed', 'completed_at', ARGV[2])
    redis.call('SREM', P .. 'batchesrunning', id)
    return true
end
