-- Delete jobs. ARGV: base, ended_by ('' for any job, else '=' .. now: only jobs that have
-- ended and that no worker is still stopping), ids... Returns how many were deleted.
local ended_by = num(opt(ARGV[2]))
local deleted = 0
for i = 3, #ARGV do
    local job = load(ARGV[i])
    if job and (not ended_by or (TERMINAL[job.status] and not still_stopping(job, ended_by))) then
        delete_job(job)
        deleted = deleted + 1
    end
end
return deleted
