-- wrk script: create realistic resources. Each request POSTs the next resource of an NDJSON file
-- (bench/population/generate.mjs output: Synthea clones, every type in its real proportion) to
-- /fhir/{resourceType}; the server assigns a fresh id (the id in the body is ignored, as R4 says for
-- create), so the file can be cycled through for as long as the run lasts and every answer is a
-- 201 with a new resource. wrk's threads take every n-th line each, starting at their own offset.
--   BENCH_NDJSON=/path/pop.ndjson BENCH_WRK_THREADS=2 wrk -t 2 -s bench/lua/create_population.lua ...
-- done() prints the same machine-readable line as create.lua.
local file = os.getenv("BENCH_NDJSON")
local total = tonumber(os.getenv("BENCH_WRK_THREADS") or "1")  -- must equal wrk's -t
local counter = 0

function setup(thread)
  thread:set("index", counter)  -- a global of that thread's Lua state
  counter = counter + 1
end

function init(args)
  local mine = index
  requests = {}
  local headers = { ["Content-Type"] = "application/fhir+json" }
  local n = 0
  for line in io.lines(file) do
    if n % total == mine then
      local rtype = line:match('^{"resourceType":"([A-Za-z]+)"')
      requests[#requests + 1] = wrk.format("POST", "/fhir/" .. rtype, headers, line)
    end
    n = n + 1
  end
  next_request = 1
end

function request()
  local r = requests[next_request]
  next_request = next_request % #requests + 1
  return r
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
      "BENCH requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
      "non2xx=%d socket_errors=%d\n",
      summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.status, e.connect + e.read + e.write + e.timeout))
end
