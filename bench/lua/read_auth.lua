-- wrk script: read by id with an optional bearer token (bench/run.sh, section 7). Each request
-- GETs /fhir/<BENCH_TYPE>/<BENCH_PREFIX><N> for a random N in [0, BENCH_IDS), with
-- "Authorization: Bearer <BENCH_TOKEN>" when BENCH_TOKEN is set: the same token on every request,
-- as a client reuses its access token. done() prints the same line as read.lua.
local ids = tonumber(os.getenv("BENCH_IDS") or "1000")
local type = os.getenv("BENCH_TYPE") or "Observation"
local prefix = os.getenv("BENCH_PREFIX") or "o"
local token = os.getenv("BENCH_TOKEN") or ""
local requests = {}

function init(args)
  local headers = {}
  if token ~= "" then headers["Authorization"] = "Bearer " .. token end
  for i = 0, ids - 1 do
    requests[i + 1] = wrk.format("GET", "/fhir/" .. type .. "/" .. prefix .. i, headers)
  end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
end

function request()
  return requests[math.random(ids)]
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
