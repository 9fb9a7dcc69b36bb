-- wrk calls done() once after the run; print one machine-readable line that
-- benchrun parses (wrk's own --latency table stops at p99).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCHRUN {\"requests\":%d,\"duration_us\":%d,\"bytes\":%d," ..
    "\"errors\":{\"connect\":%d,\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d}," ..
    "\"latency_us\":{\"min\":%d,\"max\":%d,\"mean\":%.2f,\"stdev\":%.2f," ..
    "\"p50\":%d,\"p90\":%d,\"p99\":%d,\"p999\":%d}}\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.max, latency.mean, latency.stdev,
    latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
