-- list-filtered: GET /api/tasks with a filter and a sort that change on
-- every request, round robin over the users whose access tokens are the
-- comma-separated BENCH_TOKENS. A user's consecutive lists differ, so none
-- is answered from the store's first-page cache (which keeps each user's
-- latest query): this measures building a page. Each user holds the 50
-- tasks the harness's setup.py seeds (priorities, tags bench and t0..t4,
-- half with a due date).
local tokens, i = {}, 0
local statuses = { "all", "pending", "completed" }
local tags = { "", "bench", "t0", "t1", "t2", "t3", "t4" }
local priorities = { "", "none", "low", "medium", "high" }
local sorts = { "created", "-created", "due", "-due", "priority", "-priority", "title", "-title", "updated", "-updated", "" }

function init(args)
  for t in string.gmatch(os.getenv("BENCH_TOKENS") or "", "[^,]+") do tokens[#tokens + 1] = t end
  assert(#tokens > 0, "BENCH_TOKENS is empty")
end

local function pick(list, n) return list[n % #list + 1] end

function request()
  i = i + 1
  -- Coprime lengths (3, 7, 5, 11): the combination repeats only every 1,155 requests.
  local query = "status=" .. pick(statuses, i)
  local tag, priority, sort = pick(tags, i), pick(priorities, i), pick(sorts, i)
  if tag ~= "" then query = query .. "&tag=" .. tag end
  if priority ~= "" then query = query .. "&priority=" .. priority end
  if sort ~= "" then query = query .. "&sort=" .. sort end
  return wrk.format("GET", "/api/tasks?" .. query,
    { ["Authorization"] = "Bearer " .. tokens[i % #tokens + 1] })
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT req/s=%.1f p50_ms=%.2f p99_ms=%.2f non2xx=%d sock_errors=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.status, e.connect + e.read + e.write + e.timeout, summary.requests))
end
