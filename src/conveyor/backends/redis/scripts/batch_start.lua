-- Start batches. ARGV: base, now, 'one' and a batch id (it must be scheduled), or 'due'
-- and a limit (every scheduled batch whose start has come, oldest first).
local now = tonumber(ARGV[2])
local started = {}
if ARGV[3] == 'one' then
    local id = ARGV[4]
    local status = redis.call('HGET', batch_key(id), 'status')
    if not status then return fail('NoSuchBatch', id) end
    if status ~= 'scheduled' then
        return fail('InvalidBatch', id, status, 'Cannot start batch ' .. id .. ': it is already ' .. STATUS_MARK)
    end
    started = {id}
else
    started = redis.call('ZRANGEBYSCORE', P .. 'batchstarts', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[4]))
end
for _, id in ipairs(started) do release_held(id, now) end
return #started
