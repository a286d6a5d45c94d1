-- The server's clock (seconds, microseconds), for processes to measure theirs against
-- (clock_check.py), read on the node that serves the namespace. ARGV: base. Returns
-- false where the ACL user may not run TIME (it is in no category but @fast).
local now = redis.pcall('TIME')
if now.err then return false end
return now
