-- wrk script: searches from files of request paths (one per line, e.g.
-- "/fhir/Observation?patient=Patient%2F...&code=...&date=ge2015-03-16"), written by
-- bench/population/generate.mjs --queries DIR from values drawn from the loaded population.
--
-- BENCH_PATHS="FILE[:WEIGHT],FILE[:WEIGHT],..." (weights default to 1). The requests are
-- formatted once in init(): a list in which, per round, each file contributes WEIGHT consecutive
-- paths (its own paths taken in turn, cycling), so that a mix has the given proportions; every
-- thread walks the list in order, from its own starting point. done() prints one machine-readable BENCH line
-- (latencies in microseconds), as read.lua does.
local requests = {}
local n = 0
local pos = 0
local thread_count = 0

-- Runs in wrk's main Lua state, once per thread before init(): numbers the threads.
function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

local function read_paths(file)
  local paths = {}
  local f = assert(io.open(file, "r"), "cannot open " .. file)
  for line in f:lines() do
    if #line > 0 then table.insert(paths, line) end
  end
  f:close()
  assert(#paths > 0, file .. " has no request paths")
  return paths
end

function init(args)
  local spec = os.getenv("BENCH_PATHS") or error("BENCH_PATHS is not set")
  local kinds = {}
  local longest = 0
  for item in spec:gmatch("[^,]+") do
    local file, weight = item:match("^(.-):(%d+)$")
    if not file then file, weight = item, "1" end
    local paths = read_paths(file)
    table.insert(kinds, { paths = paths, weight = tonumber(weight), next = 1 })
    if #paths > longest then longest = #paths end
  end
  -- Enough rounds that every path of the longest file is used once.
  local rounds = longest
  for _ = 1, rounds do
    for _, k in ipairs(kinds) do
      for _ = 1, k.weight do
        n = n + 1
        requests[n] = wrk.format("GET", k.paths[k.next])
        k.next = k.next % #k.paths + 1
      end
    end
  end
  -- Threads start at different points of the list (a thread does not know how many there are).
  local index = tonumber(thread_index) or 0
  pos = (index * 7919) % n
end

function request()
  pos = pos % n + 1
  return requests[pos]
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
