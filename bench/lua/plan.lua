-- Replays a request plan written by bench/http.py. Python draws the plan (skew, tokens, bodies);
-- this script only formats it, so wrk spends its CPU on sending requests, not on choosing them.
--
-- Arguments (after `--`): plan file, run id, "1" to add a unique Idempotency-Key to every request.
-- Plan lines: METHOD <TAB> PATH <TAB> TOKEN <TAB> BODY   (TOKEN and BODY may be empty; "{key}" in
-- BODY becomes the request's unique key).
-- done() prints one line "BENCH-RESULT {json}" that bench/http.py parses.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_no", #threads)
end

local plan = {}      -- pre-formatted requests (no unique keys) or {method, path, headers, body}
local size = 0
local cursor = 0
local unique = false
local run_id = ""
local sent = 0
non2xx = 0          -- global: done() reads it from every thread with thread:get()

function init(args)
  run_id = args[2]
  unique = args[3] == "1"
  for line in io.lines(args[1]) do
    local method, path, token, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    local headers = {}
    if token ~= "" then headers["Authorization"] = "Token " .. token end
    if body == "" then body = nil else headers["Content-Type"] = "application/json" end
    size = size + 1
    if unique then
      plan[size] = {method, path, headers, body}
    else
      plan[size] = wrk.format(method, path, headers, body)
    end
  end
  -- Threads start at different places so they do not send the same requests in lockstep.
  cursor = ((thread_no - 1) * 7919) % size
end

function request()
  cursor = cursor % size + 1
  if not unique then
    return plan[cursor]
  end
  sent = sent + 1
  local item = plan[cursor]
  local key = run_id .. "-" .. thread_no .. "-" .. sent
  local headers = {}
  for name, value in pairs(item[3]) do headers[name] = value end
  headers["Idempotency-Key"] = key
  local body = item[4]
  if body then body = (body:gsub("{key}", key)) end
  return wrk.format(item[1], item[2], headers, body)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("non2xx") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH-RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "non2xx": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d, ' ..
    '"status_over_399": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, bad, e.connect, e.read, e.write, e.timeout, e.status))
end
