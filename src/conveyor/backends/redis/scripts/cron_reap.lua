-- Remove the periodic jobs published last before a time, with their last tick.
-- ARGV: base, cutoff. Returns their names.
local cutoff = tonumber(ARGV[2])
local reaped = {}
local all = redis.call('HGETALL', P .. 'cronentries')
for i = 1, #all, 2 do
    local ok, entry = pcall(cjson.decode, all[i + 1])
    if ok and type(entry) == 'table' and tonumber(entry.last_seen) and tonumber(entry.last_seen) < cutoff then
        redis.call('HDEL', P .. 'cronentries', all[i])
        redis.call('HDEL', P .. 'cron', all[i])
        reaped[#reaped + 1] = all[i]
    end
end
return reaped
