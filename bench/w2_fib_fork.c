/*
 * w2_fib_fork.c — W2 of shared/bench/WORKLOADS.md: recursive fib(k) where
 * each call above the base cases spawns fib(k-1) and fib(k-2) as tasks and
 * joins both, with no cutoff; fib(0) = 0 and fib(1) = 1 return without
 * spawning. The root is a task too, so fib(k) makes 2*fib(k+1) - 1 tasks
 * (242,785 for the default k = 25). Checks the value against a loop.
 * Figures: wall, ns per task. "n" in the JSON line is the task count and
 * "fib_n" is k (--n sets k).
 *
 * Python twin (bench/asyncio):
 *     async def fib(k):
 *         if k < 2: return k
 *         a = asyncio.create_task(fib(k - 1))
 *         b = asyncio.create_task(fib(k - 2))
 *         return await a + await b
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <spool/spool.h>

#include "bench_util.h"

#define W2_DEFAULT_K 25L
#define W2_MAX_K 46L /* fib(46) is the last that fits an int result */

/* What main() hands the main task, and what comes back. */
struct w2 {
    unsigned k;
    bench_report report;
};

/* fib(k) by a loop, to check against. */
static int64_t fib_loop(unsigned k)
{
    int64_t a = 0, b = 1;

    for (unsigned i = 0; i < k; i++) {
        int64_t t = a + b;
        a = b;
        b = t;
    }
    return a;
}

/* One call of the workload: fib(k), k passed through arg.
 * Returns: fib(k), or a negative errno if a spawn failed below. */
static int fib_task(void *arg)
{
    unsigned k = (unsigned)(uintptr_t)arg;
    spool_task *a, *b;
    int x, y;

    if (k < 2)
        return (int)k;
    a = spool_spawn(fib_task, (void *)(uintptr_t)(k - 1));
    if (a == NULL)
        return -ENOMEM;
    b = spool_spawn(fib_task, (void *)(uintptr_t)(k - 2));
    if (b == NULL) {
        spool_join(a);
        return -ENOMEM;
    }
    x = spool_join(a);
    y = spool_join(b);
    if (x < 0)
        return x;
    if (y < 0)
        return y;
    return x + y;
}

static int bench_main(void *arg)
{
    struct w2 *w = arg;
    spool_task *root;
    uint64_t t0;
    int got = -ENOMEM;

    w->report.workers = spool_workers();
    w->report.base_rss_kib = bench_current_rss_kib();

    t0 = spool_now_ns();
    root = spool_spawn(fib_task, (void *)(uintptr_t)w->k);
    if (root != NULL)
        got = spool_join(root);
    w->report.wall_ns = spool_now_ns() - t0;

    if (got < 0)
        fprintf(stderr, "fib_fork: %s\n", spool_strerror(got));
    else if (got != fib_loop(w->k))
        fprintf(stderr, "fib_fork: fib(%u) = %d, want %lld\n", w->k, got,
                (long long)fib_loop(w->k));
    w->report.ok = got >= 0 && got == fib_loop(w->k);
    return 0;
}

int main(int argc, char **argv)
{
    struct w2 w = {.report = {.workload = "fib_fork"}};
    spool_config cfg = {0};
    char extra[32];
    bench_args args;
    long tasks;
    int rc = bench_parse(argc, argv, W2_DEFAULT_K, 0, W2_MAX_K, &args);

    if (rc != 0)
        return rc > 0 ? 0 : 2;
    w.k = (unsigned)args.n;
    tasks = 2 * (long)fib_loop(w.k + 1) - 1;
    snprintf(extra, sizeof extra, "\"fib_n\":%u", w.k);
    w.report.n = tasks;
    w.report.ops = tasks;
    w.report.extra = extra;
    cfg.workers = args.workers;
    rc = spool_run(bench_main, &w, &cfg);
    if (rc < 0) {
        fprintf(stderr, "fib_fork: spool_run: %s\n", spool_strerror(rc));
        w.report.ok = 0;
    }
    return bench_report_print(&w.report);
}
