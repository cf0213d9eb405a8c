/*
 * w5_semaphore_limit.c — W5 of shared/bench/WORKLOADS.md: N tasks behind a
 * semaphore of 100 permits; each acquires, sleeps 1 ms, releases; gather.
 * Checks that every task returned 0, that no more than 100 ever held a
 * permit at once ("max_holders" in the JSON line) and that the wall time is
 * at least the ceil(N / 100) ms the limit forces. Figure: wall (ideal
 * 1.000 s for N = 100,000); per_op_ns = wall / N.
 *
 * Python twin (bench/asyncio):
 *     sem = asyncio.Semaphore(100)
 *     async def one():
 *         async with sem:
 *             await asyncio.sleep(0.001)
 *     await asyncio.gather(*[asyncio.create_task(one()) for _ in range(n)])
 *
 * Unlike the twin, this does not insist that all 100 permits were out at
 * once: here the tasks start running on other workers while the main task
 * is still spawning, and where spawning is slow (a sanitizer build: about
 * 0.2 ms a task) the first sleeps end before 100 tasks exist.
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <spool/spool.h>

#include "bench_util.h"

#define W5_DEFAULT_N 100000L
#define W5_PERMITS 100
#define W5_HOLD_MS 1

/* The shared state of one run. */
struct w5 {
    long n;
    spool_sem sem;
    atomic_int holders;     /* tasks holding a permit now */
    atomic_int max_holders; /* the most ever seen at once */
    bench_report report;
};

/* One task of the workload. Returns: 0, or the first negative errno of the
 * semaphore or the sleep. */
static int limited(void *arg)
{
    struct w5 *w = arg;
    int rc, now, max;

    rc = spool_sem_acquire(&w->sem);
    if (rc < 0)
        return rc;
    /* Relaxed is enough: the semaphore orders the permits; these counters
     * only watch how many are out. */
    now = atomic_fetch_add_explicit(&w->holders, 1, memory_order_relaxed) + 1;
    max = atomic_load_explicit(&w->max_holders, memory_order_relaxed);
    while (now > max &&
           !atomic_compare_exchange_weak_explicit(&w->max_holders, &max, now,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
    rc = spool_sleep_ms(W5_HOLD_MS);
    atomic_fetch_sub_explicit(&w->holders, 1, memory_order_relaxed);
    int rel = spool_sem_release(&w->sem);
    return rc < 0 ? rc : rel;
}

static int bench_main(void *arg)
{
    struct w5 *w = arg;
    size_t n = (size_t)w->n;
    spool_task **tasks = malloc((n ? n : 1) * sizeof *tasks);
    int *results = malloc((n ? n : 1) * sizeof *results);
    uint64_t floor_ns = (uint64_t)((n + W5_PERMITS - 1) / W5_PERMITS) * W5_HOLD_MS * SPOOL_MSEC;
    size_t spawned, bad = 0;
    uint64_t t0;
    int rc, max;

    w->report.workers = spool_workers();
    if (tasks == NULL || results == NULL) {
        free(tasks);
        free(results);
        return -ENOMEM;
    }
    spool_sem_init(&w->sem, W5_PERMITS);
    w->report.base_rss_kib = bench_current_rss_kib();

    t0 = spool_now_ns();
    for (spawned = 0; spawned < n; spawned++) {
        tasks[spawned] = spool_spawn(limited, w);
        if (tasks[spawned] == NULL)
            break;
    }
    rc = spool_gather(tasks, spawned, results);
    w->report.wall_ns = spool_now_ns() - t0;

    max = atomic_load(&w->max_holders);
    if (spawned < n)
        fprintf(stderr, "semaphore_limit: spool_spawn failed at task %zu of %zu\n", spawned, n);
    if (rc < 0)
        fprintf(stderr, "semaphore_limit: spool_gather: %s\n", spool_strerror(rc));
    for (size_t i = 0; rc >= 0 && i < spawned; i++)
        bad += results[i] != 0;
    if (bad != 0)
        fprintf(stderr, "semaphore_limit: %zu tasks returned non-zero\n", bad);
    if (max > W5_PERMITS)
        fprintf(stderr, "semaphore_limit: %d tasks held a permit at once, limit %d\n", max,
                W5_PERMITS);
    if (w->report.wall_ns < floor_ns)
        fprintf(stderr, "semaphore_limit: done in %.6f s, under the %.3f s the limit forces\n",
                (double)w->report.wall_ns / 1e9, (double)floor_ns / 1e9);
    w->report.ok = rc >= 0 && spawned == n && bad == 0 && max <= W5_PERMITS &&
                   w->report.wall_ns >= floor_ns;
    free(tasks);
    free(results);
    return 0;
}

int main(int argc, char **argv)
{
    struct w5 w = {.report = {.workload = "semaphore_limit"}};
    spool_config cfg = {0};
    char extra[32];
    bench_args args;
    int rc = bench_parse(argc, argv, W5_DEFAULT_N, 0, INT_MAX, &args);

    if (rc != 0)
        return rc > 0 ? 0 : 2;
    w.n = args.n;
    w.report.n = args.n;
    w.report.ops = args.n;
    cfg.workers = args.workers;
    rc = spool_run(bench_main, &w, &cfg);
    if (rc < 0) {
        fprintf(stderr, "semaphore_limit: spool_run: %s\n", spool_strerror(rc));
        w.report.ok = 0;
    }
    snprintf(extra, sizeof extra, "\"max_holders\":%d", atomic_load(&w.max_holders));
    w.report.extra = extra;
    return bench_report_print(&w.report);
}
