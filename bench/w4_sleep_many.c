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
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <spool/spool.h>

#include "bench_util.h"

#define W4_DEFAULT_N 100000L
#define W4_SLEEP_MS 1000

/* One task of the workload: sleeps 1 s. Returns spool_sleep_ms's result. */
static int sleeper(void *arg)
{
    (void)arg;
    return spool_sleep_ms(W4_SLEEP_MS);
}

static int sleep_many_task(void *state, bench_report *r)
{
    size_t n = (size_t)r->n, bad = 0;
    bench_gathered g;
    int rc = bench_spawn_gather(r, n, sleeper, NULL, 0, &g);

    if (rc < 0)
        return rc;
    for (size_t i = 0; g.rc >= 0 && i < g.spawned; i++)
        bad += g.results[i] != 0;
    if (bad != 0)
        fprintf(stderr, "sleep_many: %zu tasks returned non-zero\n", bad);
    if (n > 0 && r->wall_ns < W4_SLEEP_MS * SPOOL_MSEC)
        fprintf(stderr, "sleep_many: done in %.6f s, before the 1 s sleep ended\n",
                (double)r->wall_ns / 1e9);
    r->ok = g.rc >= 0 && g.spawned == n && bad == 0 &&
            (n == 0 || r->wall_ns >= W4_SLEEP_MS * SPOOL_MSEC);
    free(g.results);
    return 0;
}

static const bench_spec w4_spec = {
    .workload = "sleep_many",
    .default_n = W4_DEFAULT_N,
    .min_n = 0,
    .max_n = INT_MAX,
    .task = sleep_many_task,
};

int main(int argc, char **argv)
{
    return bench_main(argc, argv, &w4_spec, NULL);
}
