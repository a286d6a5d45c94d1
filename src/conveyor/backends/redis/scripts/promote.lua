-- Queue scheduled jobs whose time has come, and wake the idle workers of the queues
-- whose jobs a rate held until now (ratedue: see claim.lua). ARGV: base, now, limit.
local now = tonumber(ARGV[2])
local rate_freed = redis.call('ZRANGEBYSCORE', P .. 'ratedue', '-inf', ARGV[2])
if #rate_freed > 0 then
    -- as many workers as wait: the window lets several jobs start, and a claim that finds
    -- it full again notes the next time
    for _, queue in ipairs(rate_freed) do note_ready(queue, WAKE_TOKENS_KEPT) end
    redis.call('ZREMRANGEBYSCORE', P .. 'ratedue', '-inf', ARGV[2])
end
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
