-- Delete jobs. ARGV: base, ended_by ('' for any job, else '=' .. now: only jobs that have
-- ended and that no worker is still stopping), with_dependents ('1': also every job that
-- depends on one deleted, directly or through others), ids... Returns how many of the
-- ids given were deleted.
local ended_by = num(opt(ARGV[2]))
local with_dependents = ARGV[3] == '1'
local deleted = 0
local function delete_dependents_of(id)
    local waiting = {id}
    while #waiting > 0 do
        local parent = table.remove(waiting)
        for _, child_id in ipairs(redis.call('SMEMBERS', P .. 'dependents:' .. parent)) do
            local child = load(child_id)
            if child then
                delete_job(child)
                waiting[#waiting + 1] = child_id
            end
        end
        redis.call('DEL', P .. 'dependents:' .. parent)
    end
end
for i = 4, #ARGV do
    local job = load(ARGV[i])
    if job and (not ended_by or (TERMINAL[job.status] and not still_stopping(job, ended_by))) then
        delete_job(job)
        deleted = deleted + 1
        if with_dependents then delete_dependents_of(job.id) end
    end
end
return deleted
