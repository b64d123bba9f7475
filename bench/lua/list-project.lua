-- list-project: GET /api/tasks with a project filter (a project and the
-- projects inside it, or none) and a sort and status that change on every
-- request, round robin over the users whose access tokens are the
-- comma-separated BENCH_TOKENS, so no page comes from the first-page cache.
-- Each user's 50 seeded tasks are spread over Home, Home.Garden,
-- Home.Garden.Beds, Work, Work.Q1 and no project (list-filtered.sh --projects).
local tokens, i = {}, 0
local projects = { "Home", "Home.Garden", "Work", "-", "Work.Q1", "Home.Garden.Beds", "Errands" }
local statuses = { "all", "pending", "completed" }
local sorts = { "created", "-created", "project", "-project", "due", "priority", "-updated", "title", "" }

function init(args)
  for t in string.gmatch(os.getenv("BENCH_TOKENS") or "", "[^,]+") do tokens[#tokens + 1] = t end
  assert(#tokens > 0, "BENCH_TOKENS is empty")
end

local function pick(list, n) return list[n % #list + 1] end

function request()
  i = i + 1
  -- 7 projects and 3 statuses are coprime; the sort (9) moves on every
  -- third request too, so the combination repeats only every 189 requests.
  local query = "project=" .. pick(projects, i) .. "&status=" .. pick(statuses, i)
  local sort = pick(sorts, i + math.floor(i / 3))
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
