-- wrk script for the harness. Plain GETs of the URL, or with BENCH_MCP=1 one fixed, self-contained
-- 2026-07-28 tools/call POST (body in BENCH_BODY, built by load.py so both drivers send the same bytes).
-- A response is bad unless it is a 200 (and, for MCP, carries structuredContent without isError).
-- done() prints one line: BENCH_JSON {...} for the harness to parse. Meant for -t1 (one thread).

local mcp = os.getenv("BENCH_MCP") == "1"

if mcp then
  wrk.method = "POST"
  wrk.body = os.getenv("BENCH_BODY")
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json, text/event-stream"
  wrk.headers["Mcp-Protocol-Version"] = os.getenv("BENCH_VERSION")
  wrk.headers["Mcp-Method"] = "tools/call"
  wrk.headers["Mcp-Name"] = os.getenv("BENCH_TOOL")
end

local threads = {}
bad = 0 -- global: done() reads it from each thread with thread:get

function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
  elseif mcp and (not string.find(body, '"structuredContent"', 1, true)
                  or string.find(body, '"isError":true', 1, true)) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total_bad = 0
  for _, thread in ipairs(threads) do
    total_bad = total_bad + (thread:get("bad") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"bad":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), total_bad,
    e.connect + e.read + e.write + e.timeout))
end
