-- Delete up to limit ended jobs kept past keep_until. ARGV: base, now, limit.
local purged = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'retention', '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])) do
    local job = load(id)
    if job and TERMINAL[job.status] then
        delete_job(job)
        purged = purged + 1
    else
        redis.call('ZREM', P .. 'retention', id)
    end
end
return purged
