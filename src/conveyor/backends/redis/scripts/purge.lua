-- Delete up to limit ended jobs kept past keep_until, and throughput minutes older than
-- throughput() reads (a day, and an hour to spare). ARGV: base, now, limit.
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
-- Up to four fields per minute with ended jobs: a small hash whatever the number of jobs.
local cutoff = math.floor(tonumber(ARGV[2]) / 60) - 25 * 60
local old = {}
for _, field in ipairs(redis.call('HKEYS', P .. 'throughput')) do
    if tonumber(string.match(field, '^%d+')) < cutoff then old[#old + 1] = field end
end
for first = 1, #old, 1000 do
    redis.call('HDEL', P .. 'throughput', unpack(old, first, math.min(first + 999, #old)))
end
return purged
