-- Move up to limit queued jobs to started under a lease.
-- ARGV: base, now, worker, limit, token, lease_expires_at, queue names...
-- The hot path of every worker: it touches only the fields and indexes a claim changes
-- (what transition() would do for queued -> started) and returns each job's hash as is.
local now = tonumber(ARGV[2])
local worker, limit, token, lease_until = ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]
local claimed = {}
for qi = 7, #ARGV do
    local queue = ARGV[qi]
    local skipped = 0
    while #claimed < limit do
        local window = math.max(limit - #claimed, 100)  -- wide enough to pass expired jobs quickly
        local members = redis.call('ZRANGE', queued_key(queue), skipped, skipped + window - 1)
        if #members == 0 then break end
        for _, member in ipairs(members) do
            if #claimed >= limit then break end
            local id = string.match(member, '|(.*)$')
            local key = job_key(id)
            local fields = redis.call('HMGET', key, 'status', 'seq', 'expires_at')
            if fields[1] ~= 'queued' then
                redis.call('ZREM', queued_key(queue), member)  -- an index entry with no queued job
            elseif fields[3] and tonumber(fields[3]) <= now then
                skipped = skipped + 1  -- past its ttl: left for jobs_expire
            else
                redis.call('ZREM', queued_key(queue), member)
                if fields[3] then redis.call('ZREM', P .. 'expiry', id) end
                redis.call('HSET', key, 'status', 'started', 'worker_name', worker, 'lease_token', token,
                    'lease_expires_at', lease_until, 'started_at', ARGV[2], 'last_heartbeat', ARGV[2],
                    'stop_requested', '0')
                redis.call('ZADD', status_key(queue, 'started'), fields[2], id)
                redis.call('ZADD', P .. 'leases', lease_until, id)
                claimed[#claimed + 1] = redis.call('HGETALL', key)
                emit(id, 'started')
            end
        end
    end
end
return claimed
