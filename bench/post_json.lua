-- wrk script: POST one JSON body (file given after `--`), count non-200 answers,
-- and print one machine-readable result line that bench/scoring.py parses.
-- An optional second file adds headers, one "Name: value" a line (bench/router.py
-- sends the endpoint key this way, so it never shows in the process list).

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   local handle = assert(io.open(args[1], "rb"), "cannot open body file " .. tostring(args[1]))
   local body = handle:read("*a")
   handle:close()
   non200 = 0
   first_bad_status = 0
   local headers = { ["Content-Type"] = "application/json" }
   if args[2] then
      for line in assert(io.open(args[2], "rb"), "cannot open headers file " .. args[2]):lines() do
         local name, value = line:match("^([^:]+):%s*(.-)%s*$")
         if name then
            headers[name] = value
         end
      end
   end
   prepared = wrk.format("POST", nil, headers, body)
end

function request()
   return prepared
end

-- wrk only counts status >= 400 as errors; the benchmark wants every non-200.
function response(status, headers, body)
   if status ~= 200 then
      non200 = non200 + 1
      if first_bad_status == 0 then
         first_bad_status = status
      end
   end
end

function done(summary, latency, requests)
   local non200_total = 0
   local bad_status = 0
   for _, thread in ipairs(threads) do
      non200_total = non200_total + thread:get("non200")
      local status = thread:get("first_bad_status")
      if bad_status == 0 and status ~= 0 then
         bad_status = status
      end
   end
   local e = summary.errors
   io.write(string.format(
      "BENCH_RESULT {\"requests\":%d,\"duration_us\":%d,\"p50_us\":%d,\"p99_us\":%d,"
         .. "\"max_us\":%d,\"non200\":%d,\"first_bad_status\":%d,\"connect_errors\":%d,"
         .. "\"read_errors\":%d,\"write_errors\":%d,\"timeouts\":%d}\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      latency.max, non200_total, bad_status, e.connect, e.read, e.write, e.timeout))
end
