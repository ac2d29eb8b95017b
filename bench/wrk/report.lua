-- Shared by the wrk scripts of bench/run: at the end of a run, one line `BENCH {json}` with the
-- counts and latency percentiles the harness reads (wrk's own text output is for people).
-- Each wrk thread has its own Lua state, so per-thread counters are gathered in done().

local threads = {}

function setup(thread)
   thread:set("thread_id", #threads + 1)
   table.insert(threads, thread)
end

-- Responses outside 200-299, counted by scripts that define response(); scripts that do not
-- (large downloads, whose bodies wrk would otherwise buffer for Lua) rely on wrk's own count of
-- statuses above 399.
non_2xx = 0

function done(summary, latency, requests)
   local bad = 0
   for _, thread in ipairs(threads) do
      bad = bad + (thread:get("non_2xx") or 0)
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH {"requests": %d, "duration_us": %d, "bytes": %d, "non_2xx": %d, ' ..
      '"status_errors": %d, "connect_errors": %d, "read_errors": %d, "write_errors": %d, ' ..
      '"timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
      summary.requests, summary.duration, summary.bytes, bad,
      e.status, e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      latency.mean))
end
