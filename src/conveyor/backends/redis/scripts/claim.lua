-- Move up to limit queued jobs to started under a lease.
-- ARGV: base, now, worker, limit, token, lease_expires_at, halted (the key a halt sets, ''
-- for none), number of queues, queue names...,
-- then, when limits apply: global cap, per-user cap ('' for none), number of per-queue
-- caps, queue/cap pairs, number of per-job-type caps, type/cap pairs; then, when rates
-- apply: the time to count starts at (now, or after a wait its end), number of per-queue
-- rates, queue/count/period triples, number of per-job-type rates, type/count/period
-- triples, the per-user rate's count and period ('' and '' for none).
-- The hot path of every worker: it touches only the fields and indexes a claim changes
-- (what transition() would do for queued -> started) and returns each job's hash as it
-- now is: the fields read before the claim's write, then the fields the claim wrote (a
-- field written comes twice; the later one is the stored value).
-- Index writes are gathered, one command per index for the whole claim; the queue's own
-- removals are written once each queue has been served (nothing reads it after).
local now = tonumber(ARGV[2])
local worker, limit, token, lease_until = ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]
local last_queue = 8 + tonumber(ARGV[8])

-- Sent with a wait's pop, which a halt ended (or which ended as the halt came): the
-- worker is stopping, and whatever it claimed now would only go back. The pop may have
-- taken a wake-up instead: passed on to its queues that hold jobs, for other workers.
if ARGV[7] ~= '' and redis.call('EXISTS', ARGV[7]) == 1 then
    for qi = 9, last_queue do
        if redis.call('EXISTS', queued_key(ARGV[qi])) == 1 then note_ready(ARGV[qi]) end
    end
    return {}
end
local claimed = {}

-- Paused queues (see pause.lua) are passed over: their jobs stay queued, unmarked.
local paused = last_queue >= 9 and redis.call('HMGET', P .. 'paused', unpack(ARGV, 9, last_queue)) or {}

-- The fields a claim reads: their place in ``fields`` below.
local READS = {status = 1, seq = 2, expires_at = 3, user_id = 4, func_name = 5, enqueued_at = 6}

-- A job's hash (HGETALL) and the fields a claim reads from it, as HMGET of READS would
-- give them (false where absent): one read of the hash instead of two, for the plain
-- claim, which takes nearly every job it reads.
local function read_job(id)
    local flat = redis.call('HGETALL', job_key(id))
    local fields = {false, false, false, false, false, false}
    for i = 1, #flat, 2 do
        local at = READS[flat[i]]
        if at then fields[at] = flat[i + 1] end
    end
    return fields, flat
end

-- fields: status, seq, expires_at, user_id, func_name, enqueued_at (of a job known to be
-- queued); flat: its hash as read, if it was (else it is read after the write)
local function take(queue, member, id, fields, flat)
    local key = job_key(id)
    if #claimed == 0 then redis.call('ZADD', P .. 'leases', 'NX', '+inf', LEASES_PIN) end  -- see keys.py
    zrem_later(queued_key(queue), member)
    zrem_later(user_queued_key(queue, fields[4] or ''), member)
    if fields[3] then zrem_later(P .. 'expiry', id) end
    -- not before it was queued: a claim sent with a wait has its now from before the wait
    local started_at = fields[6] and tonumber(fields[6]) > now and fields[6] or ARGV[2]
    local writes = {'status', 'started', 'worker_name', worker, 'lease_token', token, 'lease_expires_at', lease_until,
        'started_at', started_at, 'last_heartbeat', ARGV[2], 'stop_requested', '0'}
    redis.call('HSET', key, unpack(writes))
    status_add(queue, 'started', fields[2], id, fields[4])
    zadd(P .. 'leases', lease_until, id)
    if flat then
        for i = 1, #writes do flat[#flat + 1] = writes[i] end
        claimed[#claimed + 1] = flat
    else
        claimed[#claimed + 1] = redis.call('HGETALL', key)
    end
    emit(id, 'started')
end

-- Mark users as served, the first served the longest ago, so that others go first next time.
local function record_turns(queue, users)
    if #users == 0 then return end
    local key = P .. 'turns:' .. queue
    local top = redis.call('ZREVRANGE', key, 0, 0, 'WITHSCORES')
    local last = tonumber(top[2] or '0')
    for i, user in ipairs(users) do redis.call('ZADD', key, last + i, user) end
end

-- The queue's first jobs in claim order: the plain claim, for a queue of one user.
local function take_in_order(queue)
    local read, user, extra = 0, nil, 0
    while #claimed < limit do
        -- only what is wanted (every member read costs a string in Lua), wider while
        -- jobs past their ttl are being passed over; members read stay in the set until
        -- the queue has been served (their removals are gathered), so the next range
        -- starts after every member read
        local members = redis.call('ZRANGE', queued_key(queue), read, read + limit - #claimed + extra - 1)
        if #members == 0 then break end
        read = read + #members
        for _, member in ipairs(members) do
            if #claimed >= limit then break end
            local id = string.match(member, '|(.*)$')
            local fields, flat = read_job(id)
            if fields[1] ~= 'queued' then
                zrem_later(queued_key(queue), member)  -- an index entry with no queued job
            elseif fields[3] and tonumber(fields[3]) <= now then
                -- past its ttl: left for jobs_expire
            else
                take(queue, member, id, fields, flat)
                user = user or fields[4] or ''  -- '': jobs without a user, one more user
            end
        end
        extra = math.min(math.max(2 * extra, 16), 1000)
    end
    if user then record_turns(queue, {user}) end  -- its turn counts once others come
end

-- Limits: jobs running on every worker, counted per user, queue and job type.
local limits, running = nil, nil
-- Rates (see held.py): rate name -> its log of starts (key), count, period and the
-- starts in its window (used); rate_now: the time starts are counted at and logged with;
-- user_rate: the per-user rate's count and period (each user's log is opened when read).
local rates, rate_now, rate_now_text, user_rate = nil, nil, nil, nil

-- A rate's log, trimmed to its window (rate_now - period, rate_now], and its starts counted.
local function open_rate(name, count, period)
    local key = P .. 'starts:' .. name
    redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.17g', rate_now - period))
    rates = rates or {}
    rates[name] = {key = key, count = count, period = period, used = redis.call('ZCARD', key)}
end
if ARGV[last_queue + 1] then
    local pos = last_queue + 1
    limits = {global = tonumber(ARGV[pos]), per_user = tonumber(ARGV[pos + 1]), queue = {}, type = {}}
    local caps = limits.global or limits.per_user
    pos = pos + 2
    for _, kind in ipairs({limits.queue, limits.type}) do
        local n = tonumber(ARGV[pos])
        for i = pos + 1, pos + 2 * n, 2 do kind[ARGV[i]] = tonumber(ARGV[i + 1]) end
        caps = caps or n > 0
        pos = pos + 2 * n + 1
    end
    if ARGV[pos] then
        rate_now_text = ARGV[pos]
        rate_now = tonumber(rate_now_text)
        pos = pos + 1
        for _, prefix in ipairs({HELD_QUEUE_RATE, HELD_TYPE_RATE}) do
            local n = tonumber(ARGV[pos])
            for i = pos + 1, pos + 3 * n, 3 do open_rate(prefix .. ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])) end
            pos = pos + 3 * n + 1
        end
        if ARGV[pos] and ARGV[pos] ~= '' then
            user_rate = {count = tonumber(ARGV[pos]), period = tonumber(ARGV[pos + 1])}
            rates = rates or {}
        end
    end
    running = {total = 0, user = {}, queue = {}, type = {}}
    -- (a job canceled while it ran is counted until its worker has stopped it: see still_held;
    -- rates alone need no count of the running jobs)
    for _, id in ipairs(caps and redis.call('ZRANGE', P .. 'leases', 0, -1) or {}) do
        local f = id ~= LEASES_PIN and redis.call('HMGET', job_key(id), 'status', 'user_id', 'queue', 'func_name',
                                                  'stop_requested', 'lease_token')
        if f and (f[1] == 'started' or (f[1] == 'canceled' and f[5] == '1' and f[6])) then
            running.total = running.total + 1
            if f[2] then running.user[f[2]] = (running.user[f[2]] or 0) + 1 end
            running.queue[f[3]] = (running.queue[f[3]] or 0) + 1
            running.type[f[4]] = (running.type[f[4]] or 0) + 1
        end
    end
end

-- more: starts the claim is about to make
local function rate_full(name, more)
    local rate = rates and rates[name]
    if rate and rate.used + (more or 0) >= rate.count then return name end
    return nil
end

-- The name of a user's rate, its log opened (nil: no per-user rate, or a job without a user).
local function user_rate_name(user)
    if not user_rate or not user then return nil end
    local name = HELD_USER_RATE .. user
    if not rates[name] then open_rate(name, user_rate.count, user_rate.period) end
    return name
end

-- A job started: logged in its queue's, its type's and its user's rates (members unique
-- per start: the same job started again at the same time finds one more start in the
-- window). A log expires a period (and a margin for the clocks) after its last start, so
-- the log of a rate or user that no claim reads any more goes by itself.
local function rate_started(name, id)
    local rate = name and rates[name]
    if rate then
        redis.call('ZADD', rate.key, rate_now_text, id .. '|' .. rate_now_text .. '|' .. rate.used)
        if not rate.expiry_set then
            redis.call('PEXPIRE', rate.key, math.ceil((rate.period + START_LOG_MARGIN) * 1000))
            rate.expiry_set = true
        end
        rate.used = rate.used + 1
    end
end

-- Each returns the name of the full limit that holds a job back (see conveyor/backends/
-- held.py), or nil when none does.
local function queue_full(queue)
    if not limits then return nil end
    if limits.global and running.total >= limits.global then return HELD_GLOBAL end
    local cap = limits.queue[queue]
    if cap and (running.queue[queue] or 0) >= cap then return HELD_QUEUE .. queue end
    return rate_full(HELD_QUEUE_RATE .. queue)
end

local function user_full(user)
    if not limits or not user then return nil end
    if limits.per_user and (running.user[user] or 0) >= limits.per_user then return HELD_USER .. user end
    local name = user_rate_name(user)
    return name and rate_full(name)
end

-- more: jobs of the type the claim is about to take
local function type_full(func, more)
    local cap = limits and limits.type[func]
    if cap and (running.type[func] or 0) + (more or 0) >= cap then return HELD_TYPE .. func end
    return rate_full(HELD_TYPE_RATE .. func, more)
end

local function holding_limit(queue, user, func)
    if not limits then return nil end
    return queue_full(queue) or user_full(user) or type_full(func)
end

-- The limits this claim left jobs queued for: limit -> {queue = true} (see mark_held).
local holds = nil
-- The rates it left jobs queued for, alike (see mark_rate_held).
local rate_holds = nil
-- The users and job types of the jobs it took: the only ones whose limits it may fill.
local took_users, took_types = {}, {}
local function hold(name, queue)
    if rates and rates[name] then
        rate_holds = rate_holds or {}
        rate_holds[name] = rate_holds[name] or {}
        rate_holds[name][queue] = true
        return
    end
    holds = holds or {}
    holds[name] = holds[name] or {}
    holds[name][queue] = true
end

-- For each rate holding jobs: when its window lets one more start (now, if this claim
-- left room after all), noted per queue of its held jobs in ratedue (the earliest time
-- noted stays) and announced as a due time; the due pass then wakes those queues.
local function mark_rate_held()
    for name, queues in pairs(rate_holds) do
        local rate, free_at = rates[name], rate_now
        if rate.used >= rate.count then
            local at = rate.used - rate.count
            free_at = tonumber(redis.call('ZRANGE', rate.key, at, at, 'WITHSCORES')[2]) + rate.period
        end
        local text = string.format('%.17g', free_at)
        for queue in pairs(queues) do redis.call('ZADD', P .. 'ratedue', 'LT', text, queue) end
        note_due(free_at)
    end
end

-- Fair share: the first jobs of each user, by priority, then rank within their user,
-- then how long ago their user was served, then age; jobs over a limit stay queued.
local function take_in_turns(queue)
    local full = queue_full(queue)
    if full then
        if redis.call('EXISTS', queued_key(queue)) == 1 then hold(full, queue) end
        return
    end
    local wanted = limit - #claimed
    local users = redis.call('SMEMBERS', users_key(queue))
    if #users == 0 then return end
    local served = redis.call('ZMSCORE', P .. 'turns:' .. queue, unpack(users))
    local candidates = {}
    for u, user in ipairs(users) do
        local user_limit = user_full(user ~= '' and user or nil)
        if user_limit then
            hold(user_limit, queue)  -- (its jobs are not read: a user left in the set with none wakes in vain)
        else
            -- passed: jobs read past (see HELD_READ_PAST) of a type this read would fill, held
            -- where they are; reading: the user's jobs read so far, per type
            local key, rank, offset, passed, reading = user_queued_key(queue, user), 0, 0, 0, {}
            while rank < wanted do
                local members = redis.call('ZRANGE', key, offset, offset + wanted + passed - 1)  -- wider as it passes
                if #members == 0 then break end
                offset = offset + #members
                for _, member in ipairs(members) do
                    if rank >= wanted then break end
                    local id = string.match(member, '|(.*)$')
                    local f = redis.call('HMGET', job_key(id), 'status', 'seq', 'expires_at', 'user_id', 'func_name', 'enqueued_at')
                    if f[1] ~= 'queued' then
                        redis.call('ZREM', key, member)
                    elseif not (f[3] and tonumber(f[3]) <= now) then
                        local type_limit = passed < HELD_READ_PAST and type_full(f[5], reading[f[5]])
                        if type_limit then
                            hold(type_limit, queue)
                            passed = passed + 1
                        else
                            candidates[#candidates + 1] = {
                                string.sub(member, 1, 8), rank, tonumber(served[u] or '0'), tonumber(f[2]), member, id, f,
                            }
                            reading[f[5]] = (reading[f[5]] or 0) + 1
                            rank = rank + 1
                        end
                    end
                end
            end
            if offset == 0 then redis.call('SREM', users_key(queue), user) end  -- no job left
        end
    end
    table.sort(candidates, function(a, b)
        for i = 1, 4 do
            if a[i] ~= b[i] then return a[i] < b[i] end
        end
        return false
    end)
    local turns, seen = {}, {}
    for _, c in ipairs(candidates) do
        -- past a full batch, the candidates left are only read for the limits holding them
        local batch_full = #claimed >= limit
        if batch_full and not limits then break end
        local f = c[7]
        local limit_full = holding_limit(queue, f[4], f[5])
        if limit_full then
            hold(limit_full, queue)
        elseif not batch_full then
            take(queue, c[5], c[6], f)
            if limits then
                running.total = running.total + 1
                if f[4] then
                    running.user[f[4]] = (running.user[f[4]] or 0) + 1
                    took_users[f[4]] = true
                end
                running.queue[queue] = (running.queue[queue] or 0) + 1
                running.type[f[5]] = (running.type[f[5]] or 0) + 1
                took_types[f[5]] = true
                if rates then
                    rate_started(HELD_QUEUE_RATE .. queue, c[6])
                    rate_started(HELD_TYPE_RATE .. f[5], c[6])
                    rate_started(user_rate_name(f[4]), c[6])
                end
            end
            local user = f[4] or ''
            if not seen[user] then
                seen[user] = true
                turns[#turns + 1] = user
            end
        end
    end
    record_turns(queue, turns)
end

-- A claim that fills its batch stops reading: the jobs it leaves unread (past those it
-- read of its last queue, and in the queues after) may wait for a limit it filled, and
-- the wake-up that brought it (a token wakes one worker) may have taken their mark,
-- leaving the other idle workers unwoken at the next slot freed. Each of its queues still
-- holding jobs is marked for the full limits such a job may wait for: the global and
-- the queue's, else those of the users and job types it took (see held.py).
local function mark_unread()
    for qi = 9, last_queue do
        local queue = ARGV[qi]
        if not paused[qi - 8] and redis.call('EXISTS', queued_key(queue)) == 1 then
            local full = queue_full(queue)
            if full then
                hold(full, queue)
            else
                for user in pairs(took_users) do
                    local user_limit = user_full(user)
                    if user_limit and redis.call('EXISTS', user_queued_key(queue, user)) == 1 then
                        hold(user_limit, queue)
                    end
                end
                for func in pairs(took_types) do
                    local type_limit = type_full(func)
                    if type_limit then hold(type_limit, queue) end
                end
            end
        end
    end
end

gather()
for qi = 9, last_queue do
    if #claimed >= limit then break end
    local queue = ARGV[qi]
    if not paused[qi - 8] then
        if limits or redis.call('SCARD', users_key(queue)) > 1 then
            take_in_turns(queue)
        else
            take_in_order(queue)
        end
        write_removals()  -- before a queue named twice is read again
    end
end
write_gathered()
if limits and #claimed >= limit then mark_unread() end
if holds then mark_held(holds) end
if rate_holds then mark_rate_held() end
return claimed
