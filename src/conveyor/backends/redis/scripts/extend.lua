-- Renew leases still held. ARGV: base, now, lease_expires_at, then job id / token pairs.
local now, lease_until = ARGV[2], ARGV[3]
local held = {}
for i = 4, #ARGV, 2 do
    local id, token = ARGV[i], ARGV[i + 1]
    local fields = redis.call('HMGET', job_key(id), 'status', 'lease_token')
    if fields[1] == 'started' and fields[2] == token then
        redis.call('HSET', job_key(id), 'lease_expires_at', lease_until, 'last_heartbeat', now)
        redis.call('ZADD', P .. 'leases', lease_until, id)
        held[#held + 1] = id
    end
end
return held
