-- A batch's jobs per status, then how many are still held for its starter.
-- ARGV: base, now, id. Returns status, count, ..., 'held', n.
local counts, held = {}, 0
for _, job_id in ipairs(redis.call('ZRANGE', P .. 'batchjobs:' .. ARGV[3], 0, -1)) do
    local fields = redis.call('HMGET', job_key(job_id), 'status', 'scheduled_for')
    local status = fields[1]
    if status then
        counts[status] = (counts[status] or 0) + 1
        if status == 'scheduled' and not fields[2] then held = held + 1 end
    end
end
local flat = {}
for status, n in pairs(counts) do
    flat[#flat + 1] = status
    flat[#flat + 1] = n
end
flat[#flat + 1] = 'held'
flat[#flat + 1] = held
return flat
