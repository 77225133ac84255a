-- wrk script: POST one transaction Bundle to the FHIR base, again and again. The body is the file
-- named by the environment variable BENCH_BUNDLE (read once; every POST creates new resources,
-- since the server assigns the ids of POST entries). Prefer: return=minimal keeps the response
-- Bundle to statuses and locations. done() prints one BENCH line like the other scripts; non2xx
-- counts any answer that is not 2xx/3xx (a failed transaction is a 4xx/5xx).
local file = assert(io.open(os.getenv("BENCH_BUNDLE") or "", "rb"), "BENCH_BUNDLE is not a readable file")
local body = file:read("*a")
file:close()

wrk.method = "POST"
wrk.path = "/fhir"
wrk.headers["Content-Type"] = "application/fhir+json"
wrk.headers["Prefer"] = "return=minimal"
wrk.body = body

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
      "BENCH requests=%d duration_us=%d rps=%.2f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
      "non2xx=%d socket_errors=%d\n",
      summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.status, e.connect + e.read + e.write + e.timeout))
end
