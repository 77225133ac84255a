-- wrk script: create. Every request POSTs the same small Patient (about 330 bytes) to
-- /fhir/Patient; the server assigns the id. The request is static, so wrk builds it once.
-- done() prints one machine-readable line (latencies in microseconds); non2xx counts any answer
-- that is not 2xx/3xx, and bench/run.sh checks the 201 count on /metrics as well.
wrk.method = "POST"
wrk.path = "/fhir/Patient"
wrk.headers["Content-Type"] = "application/fhir+json"
wrk.body = '{"resourceType":"Patient","active":true,' ..
    '"name":[{"use":"official","family":"Chalmers","given":["Peter","James"]}],' ..
    '"telecom":[{"system":"phone","value":"(03) 5555 6473","use":"work"}],' ..
    '"gender":"male","birthDate":"1974-12-25",' ..
    '"address":[{"use":"home","line":["534 Erewhon St"],"city":"PleasantVille",' ..
    '"state":"Vic","postalCode":"3999"}]}'

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
      "BENCH requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
      "non2xx=%d socket_errors=%d\n",
      summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.status, e.connect + e.read + e.write + e.timeout))
end
