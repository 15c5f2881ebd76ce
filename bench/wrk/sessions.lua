-- wrk script for bench/run.py: one pre-created session per request, JSON summary at the end.
--
-- Environment:
--   WRK_SESSIONS  file with one session per line: "<cookie-name>=<sid> <csrf-token> <deal-id>,<deal-id>,..."
--                 (empty: send no cookie)
--   WRK_METHOD    GET (default) or POST
--   WRK_PATH      request path; "{deal}" is replaced by one of the line's deal ids (they rotate)
--   WRK_ONCE      "1": use every session at most once (cold restore); reuse is counted as "reused"
--   WRK_TALLY     "1": count responses by status (costs the load generator time: warm-up only)
--
-- Each wrk thread takes every n-th line, so threads never share a session.

local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

local sessions = {}
local position = 0
local rotation = 0
reused = 0

function init(args)
  local total = tonumber(os.getenv("WRK_THREADS") or "2")
  local path = os.getenv("WRK_SESSIONS") or ""
  if path ~= "" then
    local index = 0
    for line in io.lines(path) do
      if index % total == tid then
        local cookie, csrf, deals = line:match("^(%S+) (%S+) (%S+)$")
        local ids = {}
        for id in deals:gmatch("[^,]+") do table.insert(ids, id) end
        table.insert(sessions, {cookie = cookie, csrf = csrf, deals = ids})
      end
      index = index + 1
    end
  end
  method = os.getenv("WRK_METHOD") or "GET"
  template = os.getenv("WRK_PATH") or "/"
  once = os.getenv("WRK_ONCE") == "1"
end

function request()
  local headers = {}
  local path = template
  if #sessions > 0 then
    position = position + 1
    if position > #sessions then
      position = 1
      rotation = rotation + 1
    end
    if once and rotation > 0 then reused = reused + 1 end
    local s = sessions[position]
    headers["Cookie"] = s.cookie
    if method ~= "GET" then
      headers["X-CSRFToken"] = s.csrf
      headers["Content-Type"] = "application/json"
    end
    local deal = s.deals[(rotation % #s.deals) + 1]
    path = path:gsub("{deal}", deal)
  end
  return wrk.format(method, path, headers, method ~= "GET" and "{}" or nil)
end

statuses = ""
if os.getenv("WRK_TALLY") == "1" then
  local counts = {}
  function response(status, headers, body)
    counts[status] = (counts[status] or 0) + 1
    local parts = {}
    for code, count in pairs(counts) do table.insert(parts, string.format('"%d": %d', code, count)) end
    statuses = table.concat(parts, ", ")
  end
end

function done(summary, latency, requests)
  local total_reused = 0
  local tallies = {}
  for _, thread in ipairs(threads) do
    total_reused = total_reused + (thread:get("reused") or 0)
    local tally = thread:get("statuses")
    if tally and tally ~= "" then table.insert(tallies, "{" .. tally .. "}") end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "max": %d}, "sessions_reused": %d, "statuses": [%s]}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    total_reused, table.concat(tallies, ", ")))
end
