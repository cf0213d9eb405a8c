/*
 * w1_spawn_join.c — W1 of shared/bench/WORKLOADS.md: spawn N tasks that each
 * return their index, gather them all, check that the results sum to
 * N(N-1)/2. Figures: ns per task (spawn + run + gather), peak RSS.
 *
 * Python twin (bench/asyncio):
 *     tasks = [asyncio.create_task(child(i)) for i in range(n)]
 *     results = await asyncio.gather(*tasks)
 */
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <spool/spool.h>

#include "bench_util.h"

#define W1_DEFAULT_N 1000000L

/* One task of the workload: returns its index, passed through arg. */
static int child(void *arg)
{
    return (int)(uintptr_t)arg;
}

static int spawn_join_task(void *state, bench_report *r)
{
    size_t n = (size_t)r->n;
    int64_t sum = 0, want = (int64_t)r->n * (r->n - 1) / 2;
    bench_gathered g;
    int rc = bench_spawn_gather(r, n, child, NULL, 1, &g);

    if (rc < 0)
        return rc;
    for (size_t i = 0; g.rc >= 0 && i < g.spawned; i++)
        sum += g.results[i];
    if (g.rc >= 0 && g.spawned == n && sum != want)
        fprintf(stderr, "spawn_join: sum %" PRId64 ", want %" PRId64 "\n", sum, want);
    r->ok = g.rc >= 0 && g.spawned == n && sum == want;
    free(g.results);
    return 0;
}

static const bench_spec w1_spec = {
    .workload = "spawn_join",
    .default_n = W1_DEFAULT_N,
    .min_n = 0,
    .max_n = INT_MAX,
    .task = spawn_join_task,
};

int main(int argc, char **argv)
{
    return bench_main(argc, argv, &w1_spec, NULL);
}
