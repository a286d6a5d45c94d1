-- Move up to limit queued jobs to started under a lease.
-- ARGV: base, now, worker, limit, token, lease_expires_at, queue names...
local now = tonumber(ARGV[2])
local worker, limit, token, lease_until = ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]
local claimed = {}
for qi = 7, #ARGV do
    local queue = ARGV[qi]
    local skipped = 0
    while #claimed < limit do
        local members = redis.call('ZRANGE', queued_key(queue), skipped, skipped + limit - #claimed - 1)
        if #members == 0 then break end
        for _, member in ipairs(members) do
            local job = load(string.match(member, '|(.*)$'))
            if not job then
                redis.call('ZREM', queued_key(queue), member)  -- an index entry with no job
            elseif job.expires_at and tonumber(job.expires_at) <= now then
                skipped = skipped + 1  -- past its ttl: left for jobs_expire
            else
                transition(job, {
                    status = 'started', worker_name = worker, lease_token = token,
                    lease_expires_at = lease_until, started_at = ARGV[2], last_heartbeat = ARGV[2], stop_requested = 0,
                })
                claimed[#claimed + 1] = flatten(job)
            end
        end
    end
end
return claimed
