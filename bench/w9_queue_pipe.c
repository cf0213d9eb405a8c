/*
 * w9_queue_pipe.c — W9 queue_pipe (not in shared/bench/WORKLOADS.md; it is
 * defined here and in bench/compare.py): P = 4 producer tasks and C = 4
 * consumer tasks pass N integers through ONE bounded spool_queue of
 * capacity 64. Producer p puts the integers of its share of [1, N] in
 * order (N / P each, the first N % P producers one more); each consumer
 * gets until the queue says -EPIPE and sums what it got. The main task
 * gathers the producers, then closes the queue, so the consumers drain
 * what is left and end with -EPIPE; it gathers them and checks that they
 * got N items summing to N (N + 1) / 2. Figure: per_op_ns = wall / N (one
 * item through the queue: a put and a get).
 *
 * Python twin (bench/asyncio/w9_queue_pipe.py): the same tasks around
 * asyncio.Queue(maxsize=64). asyncio's queue has no close, so there the
 * main task puts one sentinel (None) per consumer after the producers
 * are done, the usual idiom; a consumer ends at its sentinel. The
 * sentinels are C more puts and gets, under 0.001% of N = 1,000,000.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <spool/spool.h>

#include "bench_util.h"

#define W9_DEFAULT_N 1000000L
#define W9_PRODUCERS 4
#define W9_CONSUMERS 4
#define W9_CAPACITY 64

/* A consumer's result, on a cache line of its own. */
struct w9_sink {
    _Alignas(64) struct w9 *w;
    uint64_t sum;
    uint64_t count;
    int rc; /* the get's last result: -EPIPE when it ended as it should */
};

/* A producer's share: the integers [first, last]. */
struct w9_source {
    struct w9 *w;
    uint64_t first, last;
};

/* The shared state of one run. */
struct w9 {
    _Alignas(64) spool_queue q; /* its hot fields on one cache line */
    _Alignas(64) void *slots[W9_CAPACITY];
    struct w9_source source[W9_PRODUCERS];
    struct w9_sink sink[W9_CONSUMERS];
};

static int producer(void *arg)
{
    struct w9_source *s = arg;
    for (uint64_t v = s->first; v <= s->last; v++) {
        int rc = spool_queue_put(&s->w->q, (void *)(uintptr_t)v);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int consumer(void *arg)
{
    struct w9_sink *k = arg;
    uint64_t sum = 0, count = 0;
    void *item;
    int rc;
    while ((rc = spool_queue_get(&k->w->q, &item)) == 0) {
        sum += (uintptr_t)item;
        count++;
    }
    k->sum = sum;
    k->count = count;
    k->rc = rc;
    return rc == -EPIPE ? 0 : rc;
}

static int queue_pipe_task(void *state, bench_report *r)
{
    struct w9 *w = state;
    uint64_t n = (uint64_t)r->n, next = 1, sum = 0, count = 0;
    spool_task *p[W9_PRODUCERS], *c[W9_CONSUMERS];
    int rc_p, rc_c, bad_end = 0;

    spool_queue_init(&w->q, w->slots, W9_CAPACITY);
    for (int i = 0; i < W9_PRODUCERS; i++) {
        uint64_t share = n / W9_PRODUCERS + ((uint64_t)i < n % W9_PRODUCERS);
        w->source[i] = (struct w9_source){w, next, next + share - 1};
        next += share;
    }
    r->base_rss_kib = bench_current_rss_kib();

    uint64_t t0 = spool_now_ns();
    for (int i = 0; i < W9_CONSUMERS; i++) {
        w->sink[i] = (struct w9_sink){.w = w};
        c[i] = spool_spawn(consumer, &w->sink[i]);
    }
    for (int i = 0; i < W9_PRODUCERS; i++)
        p[i] = spool_spawn(producer, &w->source[i]);
    for (int i = 0; i < W9_CONSUMERS; i++)
        if (c[i] == NULL || p[i] == NULL) {
            /* The others would wait forever for their peers. */
            fprintf(stderr, "queue_pipe: spool_spawn failed\n");
            fflush(stderr);
            _Exit(1);
        }
    rc_p = spool_gather(p, W9_PRODUCERS, NULL);
    spool_queue_close(&w->q);
    rc_c = spool_gather(c, W9_CONSUMERS, NULL);
    r->wall_ns = spool_now_ns() - t0;

    for (int i = 0; i < W9_CONSUMERS; i++) {
        sum += w->sink[i].sum;
        count += w->sink[i].count;
        bad_end += w->sink[i].rc != -EPIPE;
    }
    uint64_t want = n * (n + 1) / 2;
    if (rc_p < 0 || rc_c < 0)
        fprintf(stderr, "queue_pipe: producers %s, consumers %s\n", spool_strerror(rc_p),
                spool_strerror(rc_c));
    if (count != n || sum != want || bad_end != 0)
        fprintf(stderr, "queue_pipe: got %" PRIu64 " items summing to %" PRIu64
                ", want %" PRIu64 " summing to %" PRIu64 "; %d consumers ended otherwise than -EPIPE\n",
                count, sum, n, want, bad_end);
    if (spool_queue_len(&w->q) != 0)
        fprintf(stderr, "queue_pipe: %zu items left in the queue\n", spool_queue_len(&w->q));
    r->ok = rc_p == 0 && rc_c == 0 && count == n && sum == want && bad_end == 0 &&
            spool_queue_len(&w->q) == 0;
    return 0;
}

static const bench_spec w9_spec = {
    .workload = "queue_pipe",
    .default_n = W9_DEFAULT_N,
    .min_n = 0,
    .max_n = INT_MAX, /* n (n + 1) / 2 fits in 64 bits */
    .task = queue_pipe_task,
};

int main(int argc, char **argv)
{
    static struct w9 w;

    return bench_main(argc, argv, &w9_spec, &w);
}
