-- Set fields of an existing job. ARGV: base, id, field/value pairs. Returns 1 if it exists.
local key = job_key(ARGV[2])
if redis.call('EXISTS', key) == 0 then return 0 end
if #ARGV > 2 then
    redis.call('HSET', key, unpack(ARGV, 3))
    emit(ARGV[2], nil)
end
return 1
