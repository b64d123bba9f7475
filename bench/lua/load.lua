-- Creates about BENCH_LOAD_TASKS tasks (JSON of about 300 bytes each),
-- round robin over the users whose access tokens are the lines of
-- BENCH_TOKENS_FILE, then stops sending and writes BENCH_DONE_FILE (wrk
-- itself runs until its duration or SIGINT, which memory.py sends when that
-- file appears). Run with one wrk thread (-t1): the count is per thread. Titles, priorities, tags and due dates vary, so filtered lists
-- over the loaded store have something to choose from.
local tokens, n, target, sent = {}, 0, 0, 0
local priorities = { "none", "low", "medium", "high" }

function init(args)
  local file = assert(io.open(os.getenv("BENCH_TOKENS_FILE") or "", "r"), "BENCH_TOKENS_FILE")
  for line in file:lines() do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
  file:close()
  assert(#tokens > 0, "no tokens in BENCH_TOKENS_FILE")
  target = tonumber(os.getenv("BENCH_LOAD_TASKS") or "1000") or 1000
end

function request()
  sent = sent + 1
  local i = sent
  local body = string.format(
    '{"title":"Loaded task %d for the memory run","description":"a task loaded through the API, number %d, with a description of ordinary length for a task","priority":"%s","tags":["load","t%d","w%d"]%s}',
    i, i, priorities[i % 4 + 1], i % 7, i % 13,
    (i % 2 == 1) and string.format(',"due":"2031-%02d-%02dT09:00:00Z"', i % 12 + 1, i % 28 + 1) or "")
  return wrk.format("POST", "/api/tasks", {
    ["Authorization"] = "Bearer " .. tokens[i % #tokens + 1],
    ["Content-Type"] = "application/json",
  }, body)
end

function response(status, headers, body)
  n = n + 1
  if n == target then
    local done = io.open(os.getenv("BENCH_DONE_FILE") or "", "w")
    if done then done:close() end
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT created=%d req/s=%.1f p99_ms=%.2f non2xx=%d sock_errors=%d\n",
    summary.requests - e.status, summary.requests / (summary.duration / 1e6),
    latency:percentile(99) / 1000, e.status, e.connect + e.read + e.write + e.timeout))
end
