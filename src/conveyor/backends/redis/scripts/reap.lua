-- Remove workers silent since before a time. ARGV: base, cutoff. Returns their names.
local cutoff = tonumber(ARGV[2])
local reaped = {}
local all = redis.call('HGETALL', P .. 'workers')
for i = 1, #all, 2 do
    if tonumber(cjson.decode(all[i + 1]).last_heartbeat) < cutoff then
        redis.call('HDEL', P .. 'workers', all[i])
        reaped[#reaped + 1] = all[i]
    end
end
return reaped
