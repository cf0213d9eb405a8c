/*
 * w3_ping_pong.c — W3 of shared/bench/WORKLOADS.md: two tasks hand a token
 * back and forth through two semaphores (both start at 0), M round trips:
 *     A: M times { release(s2); acquire(s1); }
 *     B: M times { acquire(s2); release(s1); }
 * The token is a plain counter that only its holder touches (the semaphores
 * must order it); each side checks it finds the count it expects, and at the
 * end it must read 2M hand-offs, with no permit left over. Figure: ns per hand-off (wall / 2M).
 *
 * Python twin (bench/asyncio): the same two coroutines over two
 * asyncio.Semaphore(0).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <spool/spool.h>

#include "bench_util.h"

#define W3_DEFAULT_M 1000000L

/* The shared state of one run. */
struct w3 {
    long m;              /* round trips */
    spool_sem s1;        /* B -> A */
    spool_sem s2;        /* A -> B */
    uint64_t token;      /* hand-offs so far; touched only by the holder */
    long wrong_a;        /* times A found a token it did not expect (A only) */
    long wrong_b;        /* same for B (B only) */
};

/* A semaphore call cannot fail here (the sems are valid, we are in a task);
 * if one does, the peer would wait forever, so stop the process. */
static void sem_ok(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "ping_pong: %s: %s\n", what, spool_strerror(rc));
        fflush(stderr);
        _Exit(1);
    }
}

static int player_a(void *arg)
{
    struct w3 *w = arg;

    for (long i = 0; i < w->m; i++) {
        if (w->token != 2 * (uint64_t)i)
            w->wrong_a++;
        w->token++;
        sem_ok(spool_sem_release(&w->s2), "A release");
        sem_ok(spool_sem_acquire(&w->s1), "A acquire");
    }
    return 0;
}

static int player_b(void *arg)
{
    struct w3 *w = arg;

    for (long i = 0; i < w->m; i++) {
        sem_ok(spool_sem_acquire(&w->s2), "B acquire");
        if (w->token != 2 * (uint64_t)i + 1)
            w->wrong_b++;
        w->token++;
        sem_ok(spool_sem_release(&w->s1), "B release");
    }
    return 0;
}

static int ping_pong_task(void *state, bench_report *r)
{
    struct w3 *w = state;
    spool_task *t[2];
    uint64_t t0;
    int rc, left;

    w->m = r->n;
    spool_sem_init(&w->s1, 0);
    spool_sem_init(&w->s2, 0);
    r->base_rss_kib = bench_current_rss_kib();

    t0 = spool_now_ns();
    t[0] = spool_spawn(player_a, w);
    t[1] = spool_spawn(player_b, w);
    if (t[0] == NULL || t[1] == NULL) {
        /* A lone player would wait forever for its peer. */
        fprintf(stderr, "ping_pong: spool_spawn failed\n");
        fflush(stderr);
        _Exit(1);
    }
    rc = spool_gather(t, 2, NULL);
    r->wall_ns = spool_now_ns() - t0;

    if (rc < 0)
        fprintf(stderr, "ping_pong: spool_gather: %s\n", spool_strerror(rc));
    if (w->token != 2 * (uint64_t)w->m || w->wrong_a != 0 || w->wrong_b != 0)
        fprintf(stderr, "ping_pong: %" PRIu64 " hand-offs, want %" PRIu64
                "; out of turn: A %ld, B %ld\n",
                w->token, 2 * (uint64_t)w->m, w->wrong_a, w->wrong_b);
    /* Every permit released was taken: both semaphores end at 0. */
    left = (spool_sem_try_acquire(&w->s1) == 0) + (spool_sem_try_acquire(&w->s2) == 0);
    if (left != 0)
        fprintf(stderr, "ping_pong: a permit was left over at the end\n");
    r->ok = rc >= 0 && w->token == 2 * (uint64_t)w->m && w->wrong_a == 0 &&
            w->wrong_b == 0 && left == 0;
    return 0;
}

static const bench_spec w3_spec = {
    .workload = "ping_pong",
    .default_n = W3_DEFAULT_M,
    .min_n = 0,
    .max_n = LONG_MAX / 2,
    .ops_per_n = 2, /* a round trip is two hand-offs */
    .task = ping_pong_task,
};

int main(int argc, char **argv)
{
    struct w3 w = {0};

    return bench_main(argc, argv, &w3_spec, &w);
}
