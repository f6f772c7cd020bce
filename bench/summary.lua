-- Shared by the wrk scripts: writes one JSON line of results to $WRK_SUMMARY when the run ends.
function write_summary(summary, latency)
  local out = assert(io.open(os.getenv("WRK_SUMMARY"), "a"))
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
  out:close()
end
