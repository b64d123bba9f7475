-- changes: GET /api/changes?BENCH_QUERY with the bearer token BENCH_TOKEN,
-- the same request every time. bench/feed-cost.sh runs it with
-- `since=<cursor>` (an incremental read: what changed after the cursor)
-- and with `limit=500` (the first page of a full sync). The answers do
-- not move the cursor: every request reads the same changes.
local path

function init(args)
  local token = os.getenv("BENCH_TOKEN") or ""
  assert(#token > 0, "BENCH_TOKEN is empty")
  path = "/api/changes?" .. (os.getenv("BENCH_QUERY") or "")
  wrk.headers["Authorization"] = "Bearer " .. token
end

function request()
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT req/s=%.1f p50_ms=%.2f p99_ms=%.2f non2xx=%d sock_errors=%d requests=%d bytes/req=%.0f\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.status, e.connect + e.read + e.write + e.timeout, summary.requests,
    summary.requests > 0 and summary.bytes / summary.requests or 0))
end
