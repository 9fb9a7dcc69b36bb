-- GCRA for a batch of unit requests on one key, atomically (a script runs
-- alone on the server). Times are microseconds.
-- KEYS[1]  the bucket: its value is the theoretical arrival time (TAT)
-- ARGV[1]  t    emission interval (time one token takes to refill)
-- ARGV[2]  tau  burst tolerance (burst * t)
-- ARGV[3]  n    requests in this batch
-- ARGV[4]  now  caller's clock, or "" to use the server's TIME so that all
--               replicas share one clock whatever their skew
-- Returns {admitted, remaining, retry_after, reset}: the first `admitted`
-- of the n requests pass; retry_after is the wait for the next token when
-- some were refused; reset the wait until the bucket is full.
local t = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local now
local ttl_floor = 0
if ARGV[4] == "" then
  local tm = redis.call("TIME")
  now = tonumber(tm[1]) * 1000000 + tonumber(tm[2])
else
  now = tonumber(ARGV[4])
  -- Key expiry runs on the server's clock, which a caller's clock need not
  -- follow: keep the key long enough for a test to finish.
  ttl_floor = 3600000
end
local tat = tonumber(redis.call("GET", KEYS[1])) or now
if tat < now then
  tat = now
end
local avail = math.floor((now + tau - tat) / t)
if avail < 0 then
  avail = 0
end
local admitted = math.min(n, avail)
if admitted > 0 then
  tat = tat + admitted * t
  -- The key lives only while the bucket is not full: a missing key and a
  -- full bucket mean the same, so Redis memory follows the active keys.
  redis.call("SET", KEYS[1], tat, "PX", math.max(ttl_floor, math.ceil((tat - now) / 1000) + 1))
end
local retry = 0
if admitted < n then
  retry = tat + t - tau - now
end
return {admitted, math.floor((now + tau - tat) / t), retry, tat - now}
