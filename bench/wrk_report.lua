-- wrk script for the HTTP benchmarks (bench/load.py runs it).
--
--   wrk -tT ... -s bench/wrk_report.lua URL -- T REQUESTS_FILE IDS_PREFIX
--
-- REQUESTS_FILE ("-": wrk's own request, from the URL and -H headers) holds one signed
-- delivery per line, "path<TAB>webhook-id<TAB>timestamp<TAB>signature<TAB>body". Each of the
-- T threads sends its own share, each line once, then starts over (redeliveries answer 200).
-- IDS_PREFIX ("-": none): each thread writes the "id" of every 202 answer to IDS_PREFIX.<n>,
-- so the caller can check that every accepted event was stored.
-- done() prints one line, "WRK_JSON {...}": requests, duration, latency percentiles,
-- statuses and socket errors.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

statuses = {}
local requests = {}
local next_request = 1
local ids = nil

function init(args)
  local nthreads, file, prefix = tonumber(args[1]), args[2], args[3]
  if file == "-" then
    request = nil -- wrk's own pre-built request: no Lua on the request path
  else
    local n = 0
    for line in io.lines(file) do
      if n % nthreads == tid then
        local path, id, ts, sig, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
        local headers = {}
        headers["Content-Type"] = "application/json"
        headers["webhook-id"] = id
        headers["webhook-timestamp"] = ts
        headers["webhook-signature"] = sig
        table.insert(requests, wrk.format("POST", path, headers, body))
      end
      n = n + 1
    end
  end
  if prefix ~= "-" then
    ids = io.open(prefix .. "." .. tid, "w")
    ids:setvbuf("full", 65536) -- flushed when wrk exits
  end
end

function request()
  local r = requests[next_request]
  next_request = next_request % #requests + 1
  return r
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if ids ~= nil and status == 202 then
    local id = body:match('"id":"([^"]+)"')
    if id ~= nil then
      ids:write(id, "\n")
    end
  end
end

function done(summary, latency, _)
  local merged = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      merged[status] = (merged[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(merged) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    '\nWRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "statuses": {%s}, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    table.concat(parts, ", "), e.connect, e.read, e.write, e.timeout
  ))
end
