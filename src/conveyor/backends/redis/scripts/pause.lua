-- Pause queues, or resume them. ARGV: base, now (the pause time; '' to resume), queue names...
-- A queue paused already keeps its first pause time. A resumed queue's idle workers are
-- woken for the jobs it holds: none was woken while it was paused (see wake_all).
local key = P .. 'paused'
for i = 3, #ARGV do
    local queue = ARGV[i]
    if ARGV[2] ~= '' then
        redis.call('HSETNX', key, queue, ARGV[2])
    elseif redis.call('HDEL', key, queue) == 1 then
        local waiting = redis.call('ZCARD', queued_key(queue))
        if waiting > 0 then note_ready(queue, waiting) end
    end
end
