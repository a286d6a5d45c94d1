-- Delete up to limit queued jobs of a queue. ARGV: base, queue, limit.
local emptied = 0
for _, member in ipairs(redis.call('ZRANGE', queued_key(ARGV[2]), 0, tonumber(ARGV[3]) - 1)) do
    local job = load(string.match(member, '|(.*)$'))
    if job then delete_job(job) end
    redis.call('ZREM', queued_key(ARGV[2]), member)
    emptied = emptied + 1
end
return emptied
