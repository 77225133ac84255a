-- wrk script: read by id. Each request GETs /fhir/<BENCH_TYPE>/<BENCH_PREFIX><N> for a random N
-- in [0, BENCH_IDS) (default /fhir/Patient/p<N>, the ids bench/run.sh loaded with PUT), with
-- "Authorization: Bearer <BENCH_TOKEN>" when BENCH_TOKEN is set: the same token on every request,
-- as a client reuses its access token (section 7). Requests are formatted once in init() so the
-- Lua cost per request is a table lookup. done() prints one machine-readable line (latencies in
-- microseconds).
local ids = tonumber(os.getenv("BENCH_IDS") or "1000")
local type = os.getenv("BENCH_TYPE") or "Patient"
local prefix = os.getenv("BENCH_PREFIX") or "p"
local token = os.getenv("BENCH_TOKEN") or ""
local requests = {}

function init(args)
  local headers = {}
  if token ~= "" then headers["Authorization"] = "Bearer " .. token end
  for i = 0, ids - 1 do
    requests[i + 1] = wrk.format("GET", "/fhir/" .. type .. "/" .. prefix .. i, headers)
  end
  -- Each wrk thread has its own Lua state; seed them differently.
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
