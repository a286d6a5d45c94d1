-- Queue scheduled jobs whose time has come. ARGV: base, now, limit.
local now = tonumber(ARGV[2])
local promoted = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'due', '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])) do
    local job = load(id)
    if job and job.status == 'scheduled' then
        transition(job, requeue_fields(job, now, 'queued'))
        promoted = promoted + 1
    else
        redis.call('ZREM', P .. 'due', id)
    end
end
return promoted
