-- Delete jobs. ARGV: base, ids... Returns how many existed.
local deleted = 0
for i = 2, #ARGV do
    local job = load(ARGV[i])
    if job then
        delete_job(job)
        deleted = deleted + 1
    end
end
return deleted
