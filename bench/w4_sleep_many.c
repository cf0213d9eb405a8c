/*
 * w4_sleep_many.c — W4 of shared/bench/WORKLOADS.md: N tasks each sleep
 * 1.0 s at once; gather them all. Checks that every task returned 0 and
 * that the wall time is at least the 1 s every task slept (N > 0). Figures: wall
 * (ideal 1.000 s), peak RSS; per_op_ns = wall / N.
 *
 * Python twin (bench/asyncio):
 *     tasks = [asyncio.create_task(asyncio.sleep(1.0)) for _ in range(n)]
 *     await asyncio.gather(*tasks)
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <spool/spool.h>

#include "bench_util.h"

#define W4_DEFAULT_N 100000L
#define W4_SLEEP_MS 1000

/* What main() hands the main task, and what comes back. */
struct w4 {
    long n;
    bench_report report;
};

/* One task of the workload: sleeps 1 s. Returns spool_sleep_ms's result. */
static int sleeper(void *arg)
{
    (void)arg;
    return spool_sleep_ms(W4_SLEEP_MS);
}

static int bench_main(void *arg)
{
    struct w4 *w = arg;
    size_t n = (size_t)w->n;
    spool_task **tasks = malloc((n ? n : 1) * sizeof *tasks);
    int *results = malloc((n ? n : 1) * sizeof *results);
    size_t spawned, bad = 0;
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
        tasks[spawned] = spool_spawn(sleeper, NULL);
        if (tasks[spawned] == NULL)
            break;
    }
    rc = spool_gather(tasks, spawned, results);
    w->report.wall_ns = spool_now_ns() - t0;

    if (spawned < n)
        fprintf(stderr, "sleep_many: spool_spawn failed at task %zu of %zu\n", spawned, n);
    if (rc < 0)
        fprintf(stderr, "sleep_many: spool_gather: %s\n", spool_strerror(rc));
    for (size_t i = 0; rc >= 0 && i < spawned; i++)
        bad += results[i] != 0;
    if (bad != 0)
        fprintf(stderr, "sleep_many: %zu tasks returned non-zero\n", bad);
    if (n > 0 && w->report.wall_ns < W4_SLEEP_MS * SPOOL_MSEC)
        fprintf(stderr, "sleep_many: done in %.6f s, before the 1 s sleep ended\n",
                (double)w->report.wall_ns / 1e9);
    w->report.ok = rc >= 0 && spawned == n && bad == 0 &&
                   (n == 0 || w->report.wall_ns >= W4_SLEEP_MS * SPOOL_MSEC);
    free(tasks);
    free(results);
    return 0;
}

int main(int argc, char **argv)
{
    struct w4 w = {.report = {.workload = "sleep_many"}};
    spool_config cfg = {0};
    bench_args args;
    int rc = bench_parse(argc, argv, W4_DEFAULT_N, 0, INT_MAX, &args);

    if (rc != 0)
        return rc > 0 ? 0 : 2;
    w.n = args.n;
    w.report.n = args.n;
    w.report.ops = args.n;
    cfg.workers = args.workers;
    rc = spool_run(bench_main, &w, &cfg);
    if (rc < 0) {
        fprintf(stderr, "sleep_many: spool_run: %s\n", spool_strerror(rc));
        w.report.ok = 0;
    }
    return bench_report_print(&w.report);
}
