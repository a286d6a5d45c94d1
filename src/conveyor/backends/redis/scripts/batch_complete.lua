-- Complete running batches whose jobs have all ended, with their callbacks, exactly once.
-- ARGV: base, now, limit. Returns the ids completed.
local now, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local completed = {}
for _, id in ipairs(redis.call('SMEMBERS', P .. 'batchesrunning')) do
    if #completed >= limit then break end
    local done = complete_if_ended(id, now)
    if done then
        drop_batch_if_gone(id)
        completed[#completed + 1] = id
    end
end
return completed
