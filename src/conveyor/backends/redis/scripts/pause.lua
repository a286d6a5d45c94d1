-- Pause queues, or resume them. ARGV: base, now (the pause time; '' to resume), queue names...
-- Returns the queues resumed (those that were paused).
-- A queue paused already keeps its first pause time. A resumed queue's idle workers are
-- woken for the jobs it holds: none was woken while it was paused (see wake_all).
local key = P .. 'paused'
local resumed = {}
for i = 3, #ARGV do
    local queue = ARGV[i]
    if ARGV[2] ~= '' then
        -- its tokens go too: they would wake its idle workers to claim nothing
        if redis.call('HSETNX', key, queue, ARGV[2]) == 1 then redis.call('DEL', keys_of(queue).wake) end
    elseif redis.call('HDEL', key, queue) == 1 then
        resumed[#resumed + 1] = queue
        local waiting = redis.call('ZCARD', queued_key(queue))
        if waiting > 0 then note_ready(queue, waiting) end
    end
end
return resumed
