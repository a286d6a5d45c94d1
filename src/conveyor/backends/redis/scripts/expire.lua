-- Cancel queued jobs past their ttl (reason 'expired'). ARGV: base, now, limit.
local now = tonumber(ARGV[2])
local expired = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'expiry', '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])) do
    local job = load(id)
    if job and job.status == 'queued' then
        transition(job, {
            status = 'canceled', status_reason = 'expired', ended_at = ARGV[2],
            keep_until = failure_keep_until(job, now),
        })
        expired[#expired + 1] = id
    else
        redis.call('ZREM', P .. 'expiry', id)
    end
end
if #expired > 0 then release_dependents(expired, now, false) end
return #expired
