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
    spool_sem sem;
    atomic_int holders;     /* tasks holding a permit now */
    atomic_int max_holders; /* the most ever seen at once */
    char extra[32];         /* the report's extra member: "max_holders" */
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

static int semaphore_limit_task(void *state, bench_report *r)
{
    struct w5 *w = state;
    size_t n = (size_t)r->n, bad = 0;
    uint64_t floor_ns = (uint64_t)((n + W5_PERMITS - 1) / W5_PERMITS) * W5_HOLD_MS * SPOOL_MSEC;
    bench_gathered g;
    int rc, max;

    spool_sem_init(&w->sem, W5_PERMITS);
    rc = bench_spawn_gather(r, n, limited, w, 0, &g);
    if (rc < 0)
        return rc;

    max = atomic_load(&w->max_holders);
    for (size_t i = 0; g.rc >= 0 && i < g.spawned; i++)
        bad += g.results[i] != 0;
    if (bad != 0)
        fprintf(stderr, "semaphore_limit: %zu tasks returned non-zero\n", bad);
    if (max > W5_PERMITS)
        fprintf(stderr, "semaphore_limit: %d tasks held a permit at once, limit %d\n", max,
                W5_PERMITS);
    if (r->wall_ns < floor_ns)
        fprintf(stderr, "semaphore_limit: done in %.6f s, under the %.3f s the limit forces\n",
                (double)r->wall_ns / 1e9, (double)floor_ns / 1e9);
    r->ok = g.rc >= 0 && g.spawned == n && bad == 0 && max <= W5_PERMITS &&
            r->wall_ns >= floor_ns;
    free(g.results);
    return 0;
}

/* After the run: the most holders seen, in the line as "max_holders". */
static void semaphore_limit_finish(void *state, bench_report *r)
{
    struct w5 *w = state;

    snprintf(w->extra, sizeof w->extra, "\"max_holders\":%d", atomic_load(&w->max_holders));
    r->extra = w->extra;
}

static const bench_spec w5_spec = {
    .workload = "semaphore_limit",
    .default_n = W5_DEFAULT_N,
    .min_n = 0,
    .max_n = INT_MAX,
    .task = semaphore_limit_task,
    .finish = semaphore_limit_finish,
};

int main(int argc, char **argv)
{
    struct w5 w = {0};

    return bench_main(argc, argv, &w5_spec, &w);
}
