-- wrk script for Sigil's HTTP benchmarks: POST a fixed JSON body, count non-2xx answers, and print one
-- machine-readable summary line (prefixed "WRKJSON ") with latency percentiles at the end.
--
-- Environment:
--   WRK_BODY_FILE  path of the request body (required)
--   WRK_TOKEN      bearer token (optional; sent as "Authorization: Bearer <token>")
--   WRK_PATH       request path (optional; the path of the URL given to wrk otherwise)

local body_file = os.getenv("WRK_BODY_FILE")
local f = assert(io.open(body_file, "rb"), "cannot open WRK_BODY_FILE")
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("WRK_TOKEN")
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
local path = os.getenv("WRK_PATH")
if path ~= nil and path ~= "" then
  wrk.path = path
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  first_bad = ""
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_bad == "" then
      first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 200)
    end
  end
end

local function jstr(s)
  s = string.gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end)
  return '"' .. s .. '"'
end

function done(summary, latency, requests)
  local bad, sample = 0, ""
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non2xx") or 0)
    local fb = t:get("first_bad") or ""
    if sample == "" then sample = fb end
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,"first_bad":%s,' ..
    '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"wrk_status_errors":%d,' ..
    '"latency_us":{"mean":%.1f,"stdev":%.1f,"min":%d,"max":%d,"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p99.9":%d}}\n',
    summary.requests, summary.duration, summary.bytes, bad, jstr(sample),
    e.connect, e.read, e.write, e.timeout, e.status,
    latency.mean, latency.stdev, latency.min, latency.max,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
