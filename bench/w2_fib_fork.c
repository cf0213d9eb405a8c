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

/* The state of one run. */
struct w2 {
    unsigned k;
    char extra[32]; /* the report's extra member: "fib_n" */
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

static void fib_fork_setup(void *state, long n, bench_report *r)
{
    struct w2 *w = state;
    long tasks;

    w->k = (unsigned)n;
    tasks = 2 * (long)fib_loop(w->k + 1) - 1;
    snprintf(w->extra, sizeof w->extra, "\"fib_n\":%u", w->k);
    r->n = tasks;
    r->ops = tasks;
    r->extra = w->extra;
}

static int fib_fork_task(void *state, bench_report *r)
{
    struct w2 *w = state;
    spool_task *root;
    uint64_t t0;
    int got = -ENOMEM;

    r->base_rss_kib = bench_current_rss_kib();

    t0 = spool_now_ns();
    root = spool_spawn(fib_task, (void *)(uintptr_t)w->k);
    if (root != NULL)
        got = spool_join(root);
    r->wall_ns = spool_now_ns() - t0;

    if (got < 0)
        fprintf(stderr, "fib_fork: %s\n", spool_strerror(got));
    else if (got != fib_loop(w->k))
        fprintf(stderr, "fib_fork: fib(%u) = %d, want %lld\n", w->k, got,
                (long long)fib_loop(w->k));
    r->ok = got >= 0 && got == fib_loop(w->k);
    return 0;
}

static const bench_spec w2_spec = {
    .workload = "fib_fork",
    .default_n = W2_DEFAULT_K,
    .min_n = 0,
    .max_n = W2_MAX_K,
    .setup = fib_fork_setup,
    .task = fib_fork_task,
};

int main(int argc, char **argv)
{
    struct w2 w = {0};

    return bench_main(argc, argv, &w2_spec, &w);
}
