/*
 * w8_timeout_cancel.c — W8 of shared/bench/WORKLOADS.md: N tasks each wait
 * on an event that never fires, under a 10 ms timeout; all time out and
 * are cancelled cleanly. Checks that every wait returned -ETIMEDOUT, that
 * every scope says it fired, and that the wall time is at least the 10 ms
 * (N > 0). Figures: wall; per_op_ns = wall / N (ns per cancelled wait).
 *
 * Python twin (bench/asyncio):
 *     async def waiter(ev):
 *         try:
 *             async with asyncio.timeout(0.010):
 *                 await ev.wait()
 *         except TimeoutError:
 *             return 1
 *     await asyncio.gather(*(asyncio.create_task(waiter(ev)) for _ in range(n)))
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <spool/spool.h>

#include "bench_util.h"

#define W8_DEFAULT_N 100000L
#define W8_TIMEOUT_NS (10 * SPOOL_MSEC)

static spool_event never_set = SPOOL_EVENT_INIT;

/* One task: waits under a 10 ms scope. Returns 1 if the wait timed out and
 * the scope says so, else 0. */
static int waiter(void *arg)
{
    (void)arg;
    spool_timeout to;
    spool_timeout_enter(&to, W8_TIMEOUT_NS);
    int rc = spool_event_wait(&never_set);
    int fired = spool_timeout_exit(&to);
    return rc == -ETIMEDOUT && fired == -ETIMEDOUT;
}

static int timeout_cancel_task(void *state, bench_report *r)
{
    (void)state;
    size_t n = (size_t)r->n, timed_out = 0;
    bench_gathered g;
    int rc = bench_spawn_gather(r, n, waiter, NULL, 0, &g);
    if (rc < 0)
        return rc;
    for (size_t i = 0; g.rc >= 0 && i < g.spawned; i++)
        timed_out += g.results[i] == 1;
    if (timed_out != n)
        fprintf(stderr, "timeout_cancel: %zu of %zu waits timed out\n", timed_out, n);
    r->ok = g.rc >= 0 && g.spawned == n && timed_out == n && (n == 0 || r->wall_ns >= W8_TIMEOUT_NS);
    free(g.results);
    return 0;
}

static const bench_spec w8_spec = {
    .workload = "timeout_cancel",
    .default_n = W8_DEFAULT_N,
    .min_n = 0,
    .max_n = INT_MAX,
    .task = timeout_cancel_task,
};

int main(int argc, char **argv)
{
    return bench_main(argc, argv, &w8_spec, NULL);
}
