-- What a listing shows of jobs: the fields named of each job's hash, then its exc_info,
-- of which a long one gives only its end (see tail), all in one call: a listing never
-- moves a job's large values (payload, result, meta, a long traceback) out of Redis.
-- ARGV: base, limit, the number of fields, the fields (id first), then the job ids.
-- Returns, per id, the values in the order named then exc_info (false for none); false
-- for a missing job.
local limit, count = tonumber(ARGV[2]), tonumber(ARGV[3])
local fields = {unpack(ARGV, 4, 3 + count)}

-- The end of a traceback longer than limit bytes (the error a listing shows is its last
-- line): its last limit bytes, less a character cut in two (UTF-8 continuation bytes).
local function tail(text)
    return (string.gsub(string.sub(text, -limit), '^[\128-\191]+', ''))
end

local found = {}
for i = 4 + count, #ARGV do
    local key = job_key(ARGV[i])
    local values = redis.call('HMGET', key, unpack(fields))
    if values[1] or redis.call('EXISTS', key) == 1 then  -- a hash without an id: unreadable, as for jobs_get
        local size = redis.call('HSTRLEN', key, 'exc_info')
        local exc_info = size > 0 and redis.call('HGET', key, 'exc_info')
        values[count + 1] = exc_info and (size <= limit and exc_info or tail(exc_info))
        found[#found + 1] = values
    else
        found[#found + 1] = false
    end
end
return found
