-- wrk script: replay pre-signed callback requests, each sent once (every MsgId unique).
--   WRK_REQUESTS=file WRK_THREADS=t WRK_DONE=prefix wrk -t t -c c -d cap -s bench/wrk_replay.lua http://host:port
-- The file holds one request a line: "<path?query>\t<body>". Thread i sends lines i, i+t, i+2t...;
-- when its share is answered, it creates the file WRK_DONE<i> (bench/compare.py then ends wrk
-- with SIGINT: wrk itself always runs for its whole -d duration). done()
-- prints one line "RESULT {json}": the rate counts from the first request to the last answer.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_usec; } wrk_timeval;
int gettimeofday(wrk_timeval *tv, void *tz);
]]
local tv = ffi.new("wrk_timeval")
local function now_us()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000000 + tonumber(tv.tv_usec)
end

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  requests_ = {}
  for line in io.lines(os.getenv("WRK_REQUESTS")) do
    local path, body = line:match("^([^\t]*)\t(.*)$")
    requests_[#requests_ + 1] = wrk.format("POST", path, {["Content-Type"] = "text/xml"}, body)
  end
  step = tonumber(os.getenv("WRK_THREADS"))
  index = tid + 1
  sent, received, bad = 0, 0, 0
  first_us, last_us = 0, 0
end

local function exhausted()
  return requests_[index] == nil
end

function request()
  if tid == 0 and not verified then
    -- wrk calls request() once on thread 0's state to check the script; that one is never sent.
    verified = true
    return wrk.format("GET", "/__wrk_done__")
  end
  local r = requests_[index]
  if r == nil then
    -- This thread's share is out: a harmless GET (404/403) until wrk is ended. A connection must not
    -- idle (wrk's delay()): a sync worker would block reading it and starve the other threads.
    return wrk.format("GET", "/__wrk_done__")
  end
  if first_us == 0 then
    first_us = now_us()
  end
  index = index + step
  sent = sent + 1
  return r
end

function response(status, headers, body)
  if exhausted() and (status == 403 or status == 404) then
    return  -- the answer to the harmless GET
  end
  received = received + 1
  last_us = now_us()
  if status ~= 200 or not body:find("<Encrypt>", 1, true) then
    bad = bad + 1
  end
  if exhausted() and received >= sent and not marked then
    marked = true
    local marker = os.getenv("WRK_DONE")
    if marker then
      io.open(marker .. tid, "w"):close()
    end
  end
end

function done(summary, latency, requests)
  local sent_total, received_total, bad_total, first, last = 0, 0, 0, nil, 0
  for _, thread in ipairs(threads) do
    sent_total = sent_total + thread:get("sent")
    received_total = received_total + thread:get("received")
    bad_total = bad_total + thread:get("bad")
    local f = thread:get("first_us")
    if f > 0 and (first == nil or f < first) then first = f end
    last = math.max(last, thread:get("last_us"))
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"sent": %d, "received": %d, "elapsed_us": %d, "bad": %d, "errors": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    sent_total, received_total, first and (last - first) or 0, bad_total,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
