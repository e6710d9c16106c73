-- Loaded by bench/wrk.py as `wrk --script`: counts every answer that is not 2xx (wrk itself
-- counts only 4xx and 5xx) and prints the figures the bench reads as one JSON line at the end.

local threads = {}
non_2xx = 0

function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non_2xx = non_2xx + 1
  end
end

function done(summary, latency, requests)
  local non_2xx_total = 0
  for _, thread in ipairs(threads) do
    non_2xx_total = non_2xx_total + thread:get("non_2xx")
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_WRK_SUMMARY {"requests": %d, "duration_us": %d, "non_2xx": %d, ' ..
    '"socket_errors": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, non_2xx_total,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
