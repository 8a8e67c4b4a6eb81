-- wrk script of bench/bench_vecguardd.sh: POST the query mix's JSON bodies
-- (one a line in $VG_WRK_QUERIES) to $VG_WRK_PATH round robin, each thread
-- from its own offset, with the tenant's key $VG_WRK_KEY; done() prints one
-- line that the docs quote.
local n = 0
function setup(thread)
  thread:set("offset", n * 397)
  n = n + 1
end

function init(args)
  bodies = {}
  for line in io.lines(os.getenv("VG_WRK_QUERIES")) do
    bodies[#bodies + 1] = line
  end
  i = offset or 0
  path = os.getenv("VG_WRK_PATH")
  headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("VG_WRK_KEY")}
end

function request()
  i = i + 1
  return wrk.format("POST", path, headers, bodies[(i % #bodies) + 1])
end

function done(summary, latency, requests)
  local s = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format("%d requests in %.1f s = %.0f queries/s, p50 %.2f ms, p99 %.2f ms, non-2xx %d, socket errors %d\n",
    summary.requests, s, summary.requests / s, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end
