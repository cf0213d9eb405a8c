/*
 * w1_spawn_join.c — W1 of shared/bench/WORKLOADS.md: spawn N tasks that each
 * return their index, gather them all, check that the results sum to
 * N(N-1)/2. Figures: ns per task (spawn + run + gather), peak RSS.
 *
 * Python twin (bench/asyncio):
 *     tasks = [asyncio.create_task(child(i)) for i in range(n)]
 *     results = await asyncio.gather(*tasks)
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <spool/spool.h>

#include "bench_util.h"

#define W1_DEFAULT_N 1000000L

/* What main() hands the main task, and what comes back. */
struct w1 {
    long n;
    bench_report report;
};

/* One task of the workload: returns its index, passed through arg. */
static int child(void *arg)
{
    return (int)(uintptr_t)arg;
}

static int bench_main(void *arg)
{
    struct w1 *w = arg;
    size_t n = (size_t)w->n;
    spool_task **tasks = malloc((n ? n : 1) * sizeof *tasks);
    int *results = malloc((n ? n : 1) * sizeof *results);
    int64_t sum = 0, want = (int64_t)w->n * (w->n - 1) / 2;
    size_t spawned;
    uint64_t t0;
    int rc;

    w->report.workers = spool_workers();
    if (tasks == NULL || results == NULL) {
        free(tasks);
        free(results);
        return -ENOMEM;
    }
    w->report.base_rss_kib = bench_current_rss_kib();

    t0 = spool_now_ns();
    for (spawned = 0; spawned < n; spawned++) {
        tasks[spawned] = spool_spawn(child, (void *)(uintptr_t)spawned);
        if (tasks[spawned] == NULL)
            break;
    }
    rc = spool_gather(tasks, spawned, results);
    w->report.wall_ns = spool_now_ns() - t0;

    if (spawned < n)
        fprintf(stderr, "spawn_join: spool_spawn failed at task %zu of %zu\n", spawned, n);
    if (rc < 0)
        fprintf(stderr, "spawn_join: spool_gather: %s\n", spool_strerror(rc));
    for (size_t i = 0; rc >= 0 && i < spawned; i++)
        sum += results[i];
    if (rc >= 0 && spawned == n && sum != want)
        fprintf(stderr, "spawn_join: sum %" PRId64 ", want %" PRId64 "\n", sum, want);
    w->report.ok = rc >= 0 && spawned == n && sum == want;
    free(tasks);
    free(results);
    return 0;
}

int main(int argc, char **argv)
{
    struct w1 w = {.report = {.workload = "spawn_join"}};
    spool_config cfg = {0};
    bench_args args;
    int rc = bench_parse(argc, argv, W1_DEFAULT_N, 0, INT_MAX, &args);

    if (rc != 0)
        return rc > 0 ? 0 : 2;
    w.n = args.n;
    w.report.n = args.n;
    w.report.ops = args.n;
    cfg.workers = args.workers;
    rc = spool_run(bench_main, &w, &cfg);
    if (rc < 0) {
        fprintf(stderr, "spawn_join: spool_run: %s\n", spool_strerror(rc));
        w.report.ok = 0;
    }
    return bench_report_print(&w.report);
}
