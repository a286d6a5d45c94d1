-- Ask the worker running a job to stop it. ARGV: base, now, id.
local id = ARGV[3]
local job = load(id)
if not job then return fail('NoSuchJob', id) end
if job.status ~= 'started' then
    return fail('InvalidOperation', id, job.status, 'Job ' .. id .. ' is not running (status ' .. STATUS_MARK .. ')')
end
save(job, {stop_requested = 1})
return 1
