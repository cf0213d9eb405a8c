-- wrk script for the HTTP workloads (bench/compare.py): after the run,
-- prints the latency percentiles wrk's --latency table leaves out, in
-- microseconds, one per line ("p999_us 1234").
done = function(summary, latency, requests)
    for _, p in ipairs({50, 99, 99.9}) do
        local name = (p == 99.9) and "p999_us" or string.format("p%d_us", p)
        io.write(string.format("%s %d\n", name, latency:percentile(p)))
    end
end
