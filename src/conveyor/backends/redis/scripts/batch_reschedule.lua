-- Move a scheduled batch's start. ARGV: base, now, id, start.
local id = ARGV[3]
local status = redis.call('HGET', batch_key(id), 'status')
if not status then return fail('NoSuchBatch', id) end
if status ~= 'scheduled' then
    return fail('InvalidBatch', id, status, 'Batch ' .. id .. ' cannot be rescheduled: it is ' .. STATUS_MARK)
end
redis.call('HSET', batch_key(id), 'scheduled_start', ARGV[4])
redis.call('ZADD', P .. 'batchstarts', ARGV[4], id)
note_due(ARGV[4])
return 1
