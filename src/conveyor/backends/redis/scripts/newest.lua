-- Newest first: up to limit (id, seq) pairs from each index named, with seq below before.
-- ARGV: base, now, before ('' for no bound), limit, user ('' for every user's jobs, else
-- '=' .. user: only that user's, from the per-user indexes), then queue and status pairs.
-- Returns id, seq, id, seq, ...: each index's newest, for the caller to merge.
local before, limit, user = ARGV[3], tonumber(ARGV[4]), opt(ARGV[5])
local found = {}
local function add(id, seq)
    found[#found + 1] = id
    found[#found + 1] = seq
end
for i = 6, #ARGV, 2 do
    local queue, status = ARGV[i], ARGV[i + 1]
    if status == 'queued' then
        -- members sort by priority band, then seq: walk the bands, each newest first; in a
        -- band, at_front jobs' members ('-' and their seq inverted) come first, newest first
        local key = user and user_queued_key(queue, user) or queued_key(queue)
        local member = redis.call('ZRANGE', key, 0, 0)[1]
        while member do
            local band = string.sub(member, 1, 8)
            local upper = before == '' and ('(' .. band .. 'z')
                or ('(' .. band .. string.format('%016x', tonumber(before)))
            for _, m in ipairs(redis.call('ZREVRANGEBYLEX', key, upper, '[' .. band .. '0', 'LIMIT', 0, limit)) do
                local seq, id = member_parts(m)
                add(id, seq)
            end
            local lower = before == '' and ('[' .. band .. '-')
                or ('[' .. band .. '-' .. string.format('%016x', math.max(SEQ_LIMIT - tonumber(before) + 1, 0)))
            for _, m in ipairs(redis.call('ZRANGEBYLEX', key, lower, '(' .. band .. '.', 'LIMIT', 0, limit)) do
                local seq, id = member_parts(m)
                add(id, seq)
            end
            member = redis.call('ZRANGEBYLEX', key, '(' .. band .. 'z', '+', 'LIMIT', 0, 1)[1]
        end
    else
        local upper = before == '' and '+inf' or ('(' .. before)
        local key = user and user_status_key(queue, user, status) or status_key(queue, status)
        local entries = redis.call('ZREVRANGEBYSCORE', key, upper, '-inf', 'WITHSCORES', 'LIMIT', 0, limit)
        for j = 1, #entries, 2 do add(entries[j], tonumber(entries[j + 1])) end
    end
end
return found
