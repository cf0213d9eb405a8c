/*
 * test_queue.c — spool_queue (sync/queue.c) through the API: the contract
 * rule by rule (arguments, FIFO ring, try_ calls, close, -EPERM on the
 * wrong side, cancellation checked first, FIFO getters and putters with no
 * barging, waiters that give up taking and queueing nothing, a hand-off
 * that wins over the cancellation that follows it), then races on 2 and 4
 * workers over thousands of rounds: MPMC with every item delivered once
 * and in each producer's order, close against puts and gets, cancellation
 * and timeouts against hand-offs, and plain threads (the _blocking calls)
 * against tasks and against each other.
 *
 * Items are small integers cast to pointers; the races count every item:
 * seen[id] (gets) must equal put_ok[id] (puts that returned 0), after a
 * final drain of what is left in the ring.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <spool/spool.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"

#define ITEM(x) ((void *)(uintptr_t)(x))
#define VAL(p) ((uintptr_t)(p))

/* ---- arguments, the ring, try_ calls ------------------------------------------ */

static void *static_slots[3];
static spool_queue static_q = SPOOL_QUEUE_INIT(static_slots, 3);

START_TEST(the_static_initializer_and_init_make_an_empty_queue_of_n_slots)
{
    ck_assert_uint_eq(spool_queue_len(&static_q), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(spool_queue_try_put(&static_q, ITEM(i + 1)), 0);
    ck_assert_int_eq(spool_queue_try_put(&static_q, ITEM(9)), -EAGAIN);
    ck_assert_uint_eq(spool_queue_len(&static_q), 3);
    void *slots[5], *it;
    spool_queue q;
    ck_assert_int_eq(spool_queue_init(&q, slots, 5), 0);
    ck_assert_uint_eq(spool_queue_len(&q), 0);
    ck_assert_int_eq(spool_queue_try_get(&q, &it), -EAGAIN);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(spool_queue_try_put(&q, NULL), 0); /* NULL is an item like any other */
    ck_assert_int_eq(spool_queue_try_put(&q, NULL), -EAGAIN);
    it = ITEM(1);
    ck_assert_int_eq(spool_queue_try_get(&q, &it), 0);
    ck_assert_ptr_null(it);
    /* init empties a queue that is not in use. */
    ck_assert_int_eq(spool_queue_init(&q, slots, 2), 0);
    ck_assert_uint_eq(spool_queue_len(&q), 0);
    ck_assert_int_eq(spool_queue_try_get(&q, &it), -EAGAIN);
}
END_TEST

START_TEST(bad_arguments_return_einval)
{
    void *slots[2], *it;
    spool_queue q;
    ck_assert_int_eq(spool_queue_init(NULL, slots, 2), -EINVAL);
    ck_assert_int_eq(spool_queue_init(&q, NULL, 2), -EINVAL);
    ck_assert_int_eq(spool_queue_init(&q, slots, 0), -EINVAL);
    ck_assert_int_eq(spool_queue_init(&q, slots, 2), 0);
    ck_assert_int_eq(spool_queue_put(NULL, ITEM(1)), -EINVAL);
    ck_assert_int_eq(spool_queue_get(NULL, &it), -EINVAL);
    ck_assert_int_eq(spool_queue_get(&q, NULL), -EINVAL);
    ck_assert_int_eq(spool_queue_try_put(NULL, ITEM(1)), -EINVAL);
    ck_assert_int_eq(spool_queue_try_get(NULL, &it), -EINVAL);
    ck_assert_int_eq(spool_queue_try_get(&q, NULL), -EINVAL);
    ck_assert_int_eq(spool_queue_put_blocking(NULL, ITEM(1)), -EINVAL);
    ck_assert_int_eq(spool_queue_get_blocking(NULL, &it), -EINVAL);
    ck_assert_int_eq(spool_queue_get_blocking(&q, NULL), -EINVAL);
    ck_assert_int_eq(spool_queue_close(NULL), -EINVAL);
    ck_assert_uint_eq(spool_queue_len(NULL), 0);
    /* Nothing changed. */
    ck_assert_uint_eq(spool_queue_len(&q), 0);
    ck_assert_int_eq(spool_queue_try_put(&q, ITEM(1)), 0);
    ck_assert_uint_eq(spool_queue_len(&q), 1);
}
END_TEST

START_TEST(try_put_and_try_get_are_fifo_across_many_wrap_arounds)
{
    void *slots[7], *it;
    spool_queue q;
    ck_assert_int_eq(spool_queue_init(&q, slots, 7), 0);
    uintptr_t next_in = 1, next_out = 1;
    uint64_t rng = 88172645463325252ull;
    for (int round = 0; round < 20000; round++) {
        unsigned puts = (unsigned)(xorshift(&rng) % 9), gets = (unsigned)(xorshift(&rng) % 9);
        for (unsigned i = 0; i < puts; i++) {
            int rc = spool_queue_try_put(&q, ITEM(next_in));
            REQUIRE(rc == (next_in - next_out < 7 ? 0 : -EAGAIN));
            if (rc == 0)
                next_in++;
        }
        REQUIRE(spool_queue_len(&q) == next_in - next_out);
        for (unsigned i = 0; i < gets; i++) {
            int rc = spool_queue_try_get(&q, &it);
            REQUIRE(rc == (next_in != next_out ? 0 : -EAGAIN));
            if (rc == 0) {
                REQUIRE(VAL(it) == next_out);
                next_out++;
            }
        }
        REQUIRE(spool_queue_len(&q) == next_in - next_out);
    }
    ck_assert_uint_gt(next_out, 10000);
}
END_TEST

static int blocking_calls_in_a_task(void *arg)
{
    void *slots[2], *it;
    spool_queue q;
    spool_queue_init(&q, slots, 2);
    ck_assert_int_eq(spool_queue_put_blocking(&q, ITEM(1)), -EPERM);
    ck_assert_int_eq(spool_queue_get_blocking(&q, &it), -EPERM);
    ck_assert_uint_eq(spool_queue_len(&q), 0); /* nothing was queued */
    ck_assert_int_eq(spool_queue_put(&q, ITEM(1)), 0);
    ck_assert_int_eq(spool_queue_get_blocking(&q, &it), -EPERM); /* nor taken */
    ck_assert_uint_eq(spool_queue_len(&q), 1);
    return 0;
}

START_TEST(put_and_get_need_a_task_and_the_blocking_calls_refuse_one)
{
    void *slots[2], *it = ITEM(5);
    spool_queue q;
    spool_queue_init(&q, slots, 2);
    ck_assert_int_eq(spool_queue_put(&q, ITEM(1)), -EPERM);
    ck_assert_uint_eq(spool_queue_len(&q), 0);
    ck_assert_int_eq(spool_queue_try_put(&q, ITEM(1)), 0);
    ck_assert_int_eq(spool_queue_get(&q, &it), -EPERM);
    ck_assert_ptr_eq(it, ITEM(5));
    ck_assert_uint_eq(spool_queue_len(&q), 1);
    ck_assert_int_eq(run_on(1, blocking_calls_in_a_task, NULL), 0);
}
END_TEST

/* ---- close ------------------------------------------------------------------ */

static int close_then_drain(void *arg)
{
    void *slots[3], *it;
    spool_queue q;
    spool_queue_init(&q, slots, 3);
    ck_assert_int_eq(spool_queue_put(&q, ITEM(1)), 0);
    ck_assert_int_eq(spool_queue_put(&q, ITEM(2)), 0);
    ck_assert_int_eq(spool_queue_close(&q), 0);
    ck_assert_int_eq(spool_queue_close(&q), 0); /* twice is harmless */
    ck_assert_int_eq(spool_queue_put(&q, ITEM(3)), -EPIPE);
    ck_assert_int_eq(spool_queue_try_put(&q, ITEM(3)), -EPIPE);
    ck_assert_uint_eq(spool_queue_len(&q), 2);
    ck_assert_int_eq(spool_queue_get(&q, &it), 0);
    ck_assert_ptr_eq(it, ITEM(1));
    ck_assert_int_eq(spool_queue_try_get(&q, &it), 0);
    ck_assert_ptr_eq(it, ITEM(2));
    it = ITEM(7);
    ck_assert_int_eq(spool_queue_get(&q, &it), -EPIPE);
    ck_assert_int_eq(spool_queue_try_get(&q, &it), -EPIPE);
    ck_assert_ptr_eq(it, ITEM(7)); /* untouched */
    ck_assert_uint_eq(spool_queue_len(&q), 0);
    /* A full queue closed: puts get -EPIPE, not -EAGAIN. */
    spool_queue_init(&q, slots, 1);
    ck_assert_int_eq(spool_queue_try_put(&q, ITEM(1)), 0);
    spool_queue_close(&q);
    ck_assert_int_eq(spool_queue_try_put(&q, ITEM(2)), -EPIPE);
    ck_assert_int_eq(spool_queue_put(&q, ITEM(2)), -EPIPE);
    return 0;
}

START_TEST(close_fails_every_put_and_lets_gets_drain_then_fail)
{
    ck_assert_int_eq(run_on(1, close_then_drain, NULL), 0);
}
END_TEST

/* ---- waiters: FIFO, no barging, close ------------------------------------------ */

/* One waiting task's record. */
struct waiter_arg {
    spool_queue *q;
    void *item;          /* put: what to put; get: what it got */
    _Atomic int started;
    _Atomic int done;
    int rc, rc2;         /* the call's result; a second call's (some tests) */
    spool_timeout *to;   /* a scope to wait in, or NULL */
    uint64_t to_ns;
};

/* One waiting task: puts a->item (put) or gets into a->item, within a
 * scope of a->to_ns if not 0; then, if twice, waits a second time (out
 * of the scope: a put of 0xbad or a get, its result in a->rc2), for the
 * tests that want a second, cancelled wait. Returns: a->rc. */
static int queue_wait(struct waiter_arg *a, bool put, bool twice)
{
    void *it = ITEM(0xdead);
    spool_timeout to;
    if (a->to_ns)
        spool_timeout_enter(&to, a->to_ns);
    atomic_store(&a->started, 1);
    if (put) {
        a->rc = spool_queue_put(a->q, a->item);
    } else {
        a->rc = spool_queue_get(a->q, &it);
        a->item = it;
    }
    if (a->to_ns)
        spool_timeout_exit(&to);
    if (twice)
        a->rc2 = put ? spool_queue_put(a->q, ITEM(0xbad)) : spool_queue_get(a->q, &it);
    atomic_store(&a->done, 1);
    return a->rc;
}

static int getter(void *arg)
{
    return queue_wait(arg, false, true);
}

static int getter_once(void *arg)
{
    return queue_wait(arg, false, false);
}

static int putter_once(void *arg)
{
    return queue_wait(arg, true, false);
}

static int putter_twice(void *arg)
{
    return queue_wait(arg, true, true);
}

/* Spawns fn(a) and lets it run until it blocks (one worker: a task that has
 * started ran until it blocked, since nothing else ran meanwhile). A wait
 * under a timeout may have ended by the time this returns (a->done). */
static spool_task *spawn_waiting(spool_fn fn, struct waiter_arg *a)
{
    spool_task *t = spool_spawn(fn, a);
    ck_assert_ptr_nonnull(t);
    while (!atomic_load(&a->started))
        spool_yield();
    return t;
}

/* spawn_waiting for a wait that nothing can end yet: it is still waiting. */
static spool_task *spawn_blocked(spool_fn fn, struct waiter_arg *a)
{
    spool_task *t = spawn_waiting(fn, a);
    ck_assert_int_eq(atomic_load(&a->done), 0);
    return t;
}

static int fifo_getters(void *arg)
{
    void *slots[4], *it;
    spool_queue q;
    spool_queue_init(&q, slots, 4);
    struct waiter_arg a[3] = {{.q = &q}, {.q = &q}, {.q = &q}};
    spool_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn_blocked(getter_once, &a[i]);
    ck_assert_uint_eq(spool_queue_len(&q), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(spool_queue_put(&q, ITEM(10 + i)), 0);
    /* Handed over, though no getter has run yet: nothing is in the ring for
     * a newcomer to take. */
    ck_assert_uint_eq(spool_queue_len(&q), 0);
    ck_assert_int_eq(spool_queue_try_get(&q, &it), -EAGAIN);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(atomic_load(&a[i].done), 0);
    ck_assert_int_eq(spool_gather(t, 3, NULL), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_ptr_eq(a[i].item, ITEM(10 + i));
    return 0;
}

START_TEST(getters_are_served_in_the_order_they_blocked_and_nobody_barges)
{
    ck_assert_int_eq(run_on(1, fifo_getters, NULL), 0);
}
END_TEST

static int fifo_putters(void *arg)
{
    void *slots[1], *it;
    spool_queue q;
    spool_queue_init(&q, slots, 1);
    ck_assert_int_eq(spool_queue_put(&q, ITEM(100)), 0);
    struct waiter_arg a[3];
    spool_task *t[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (struct waiter_arg){.q = &q, .item = ITEM(101 + i)};
        t[i] = spawn_blocked(putter_once, &a[i]);
    }
    ck_assert_int_eq(spool_queue_try_put(&q, ITEM(999)), -EAGAIN);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(spool_queue_get(&q, &it), 0);
        ck_assert_ptr_eq(it, ITEM(100 + i));
        /* The oldest putter's item took the freed slot: still full for a
         * newcomer while putters wait, and still one item after the last. */
        ck_assert_uint_eq(spool_queue_len(&q), i < 3 ? 1 : 0);
        if (i < 2)
            ck_assert_int_eq(spool_queue_try_put(&q, ITEM(999)), -EAGAIN);
    }
    ck_assert_int_eq(spool_gather(t, 3, NULL), 0);
    ck_assert_int_eq(spool_queue_try_get(&q, &it), -EAGAIN);
    return 0;
}

START_TEST(putters_are_served_in_the_order_they_blocked_and_nobody_barges)
{
    ck_assert_int_eq(run_on(1, fifo_putters, NULL), 0);
}
END_TEST

static int close_wakes_waiters(void *arg)
{
    void *slots[1], *it;
    spool_queue q;
    /* Putters waiting on a full queue: -EPIPE, their items not queued. */
    spool_queue_init(&q, slots, 1);
    ck_assert_int_eq(spool_queue_put(&q, ITEM(1)), 0);
    struct waiter_arg p[2] = {{.q = &q, .item = ITEM(2)}, {.q = &q, .item = ITEM(3)}};
    spool_task *t[2];
    for (int i = 0; i < 2; i++)
        t[i] = spawn_blocked(putter_once, &p[i]);
    ck_assert_int_eq(spool_queue_close(&q), 0);
    ck_assert_int_eq(spool_gather(t, 2, NULL), -EPIPE);
    ck_assert_int_eq(p[0].rc, -EPIPE);
    ck_assert_int_eq(p[1].rc, -EPIPE);
    ck_assert_uint_eq(spool_queue_len(&q), 1);
    ck_assert_int_eq(spool_queue_get(&q, &it), 0);
    ck_assert_ptr_eq(it, ITEM(1));
    ck_assert_int_eq(spool_queue_get(&q, &it), -EPIPE);
    /* Getters waiting on an empty queue: -EPIPE, nothing stored. */
    spool_queue_init(&q, slots, 1);
    struct waiter_arg g[2] = {{.q = &q}, {.q = &q}};
    for (int i = 0; i < 2; i++)
        t[i] = spawn_blocked(getter_once, &g[i]);
    ck_assert_int_eq(spool_queue_close(&q), 0);
    ck_assert_int_eq(spool_gather(t, 2, NULL), -EPIPE);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(g[i].rc, -EPIPE);
        ck_assert_ptr_eq(g[i].item, ITEM(0xdead));
    }
    return 0;
}

START_TEST(close_fails_waiting_putters_and_getters_with_epipe)
{
    ck_assert_int_eq(run_on(1, close_wakes_waiters, NULL), 0);
}
END_TEST

/* ---- cancellation and timeouts ------------------------------------------------- */

struct checkpoint {
    spool_queue q;
    void *slots[2];
};

static int cancelled_self(void *arg)
{
    struct checkpoint *c = arg;
    void *it = ITEM(0xdead);
    spool_task_cancel(spool_current());
    /* Room and an item, but a wait is a checkpoint first. */
    ck_assert_int_eq(spool_queue_put(&c->q, ITEM(2)), -ECANCELED);
    ck_assert_uint_eq(spool_queue_len(&c->q), 1);
    ck_assert_int_eq(spool_queue_get(&c->q, &it), -ECANCELED);
    ck_assert_ptr_eq(it, ITEM(0xdead));
    ck_assert_uint_eq(spool_queue_len(&c->q), 1);
    /* try_ calls are no checkpoints. */
    ck_assert_int_eq(spool_queue_try_put(&c->q, ITEM(2)), 0);
    ck_assert_int_eq(spool_queue_try_get(&c->q, &it), 0);
    ck_assert_ptr_eq(it, ITEM(1));
    /* Not even on a closed queue does the checkpoint give way. */
    spool_queue_close(&c->q);
    ck_assert_int_eq(spool_queue_put(&c->q, ITEM(3)), -ECANCELED);
    ck_assert_int_eq(spool_queue_get(&c->q, &it), -ECANCELED);
    ck_assert_int_eq(spool_queue_try_get(&c->q, &it), 0);
    ck_assert_ptr_eq(it, ITEM(2));
    return 0;
}

static int timed_out_self(void *arg)
{
    struct checkpoint *c = arg;
    void *it = ITEM(0xdead);
    spool_timeout to;
    spool_timeout_enter(&to, SPOOL_USEC);
    spin_ns(SPOOL_MSEC);
    ck_assert_int_eq(spool_queue_put(&c->q, ITEM(2)), -ETIMEDOUT);
    ck_assert_int_eq(spool_queue_get(&c->q, &it), -ETIMEDOUT);
    ck_assert_ptr_eq(it, ITEM(0xdead));
    ck_assert_uint_eq(spool_queue_len(&c->q), 1);
    ck_assert_int_eq(spool_timeout_exit(&to), -ETIMEDOUT);
    /* Out of the scope, the same calls go through. */
    ck_assert_int_eq(spool_queue_put(&c->q, ITEM(2)), 0);
    ck_assert_int_eq(spool_queue_get(&c->q, &it), 0);
    ck_assert_ptr_eq(it, ITEM(1));
    return 0;
}

static int checkpoints_main(void *arg)
{
    struct checkpoint c;
    spool_queue_init(&c.q, c.slots, 2);
    spool_queue_try_put(&c.q, ITEM(1));
    spool_task *t = spool_spawn(cancelled_self, &c);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(spool_join(t), 0);
    spool_queue_init(&c.q, c.slots, 2);
    spool_queue_try_put(&c.q, ITEM(1));
    t = spool_spawn(timed_out_self, &c);
    ck_assert_ptr_nonnull(t);
    return spool_join(t);
}

START_TEST(a_cancelled_or_timed_out_task_fails_put_and_get_even_when_they_could_go_on)
{
    ck_assert_int_eq(run_on(1, checkpoints_main, NULL), 0);
}
END_TEST

static int give_up_main(void *arg)
{
    void *slots[1], *it;
    spool_queue q;
    spool_task *t[3];
    /* A getter cancelled while it waits takes nothing: the next put is
     * queued, not handed to it. */
    spool_queue_init(&q, slots, 1);
    struct waiter_arg g = {.q = &q};
    t[0] = spawn_blocked(getter_once, &g);
    spool_task_cancel(t[0]);
    ck_assert_int_eq(spool_join(t[0]), -ECANCELED);
    ck_assert_ptr_eq(g.item, ITEM(0xdead));
    ck_assert_int_eq(spool_queue_try_put(&q, ITEM(1)), 0);
    ck_assert_uint_eq(spool_queue_len(&q), 1);
    /* A putter that times out queues nothing. */
    struct waiter_arg p = {.q = &q, .item = ITEM(2), .to_ns = 5 * SPOOL_MSEC};
    t[0] = spawn_waiting(putter_once, &p);
    ck_assert_int_eq(spool_join(t[0]), -ETIMEDOUT);
    ck_assert_uint_eq(spool_queue_len(&q), 1);
    ck_assert_int_eq(spool_queue_try_get(&q, &it), 0);
    ck_assert_ptr_eq(it, ITEM(1));
    ck_assert_int_eq(spool_queue_try_get(&q, &it), -EAGAIN);
    /* A getter that times out: the same. */
    struct waiter_arg g2 = {.q = &q, .to_ns = 2 * SPOOL_MSEC};
    t[0] = spawn_waiting(getter_once, &g2);
    ck_assert_int_eq(spool_join(t[0]), -ETIMEDOUT);
    ck_assert_int_eq(spool_queue_try_put(&q, ITEM(3)), 0);
    ck_assert_int_eq(spool_queue_try_get(&q, &it), 0);
    ck_assert_ptr_eq(it, ITEM(3));
    /* The middle one of three waiting getters leaves; the others keep
     * their order. */
    struct waiter_arg w[3] = {{.q = &q}, {.q = &q}, {.q = &q}};
    for (int i = 0; i < 3; i++)
        t[i] = spawn_blocked(getter_once, &w[i]);
    spool_task_cancel(t[1]);
    ck_assert_int_eq(spool_join(t[1]), -ECANCELED);
    ck_assert_int_eq(spool_queue_put(&q, ITEM(4)), 0);
    ck_assert_int_eq(spool_queue_put(&q, ITEM(5)), 0);
    ck_assert_int_eq(spool_join(t[0]), 0);
    ck_assert_int_eq(spool_join(t[2]), 0);
    ck_assert_ptr_eq(w[0].item, ITEM(4));
    ck_assert_ptr_eq(w[2].item, ITEM(5));
    ck_assert_uint_eq(spool_queue_len(&q), 0);
    /* The middle one of three waiting putters leaves. */
    ck_assert_int_eq(spool_queue_put(&q, ITEM(6)), 0);
    for (int i = 0; i < 3; i++) {
        w[i] = (struct waiter_arg){.q = &q, .item = ITEM(7 + i)};
        t[i] = spawn_blocked(putter_once, &w[i]);
    }
    spool_task_cancel(t[1]);
    ck_assert_int_eq(spool_join(t[1]), -ECANCELED);
    for (uintptr_t want = 6; want <= 9; want += want == 7 ? 2 : 1) {
        ck_assert_int_eq(spool_queue_get(&q, &it), 0);
        ck_assert_ptr_eq(it, ITEM(want));
    }
    ck_assert_int_eq(spool_join(t[0]), 0);
    ck_assert_int_eq(spool_join(t[2]), 0);
    ck_assert_int_eq(spool_queue_try_get(&q, &it), -EAGAIN);
    return 0;
}

START_TEST(a_waiter_that_gives_up_takes_nothing_and_queues_nothing)
{
    ck_assert_int_eq(run_on(1, give_up_main, NULL), 0);
}
END_TEST

static int handed_then_cancelled_main(void *arg)
{
    void *slots[1], *it;
    spool_queue q;
    spool_task *t;
    /* A getter handed an item, then cancelled before it ran: the hand-off
     * stands, and its next wait reports the cancellation. */
    spool_queue_init(&q, slots, 1);
    struct waiter_arg g = {.q = &q};
    t = spawn_blocked(getter, &g);
    ck_assert_int_eq(spool_queue_put(&q, ITEM(1)), 0);
    spool_task_cancel(t);
    ck_assert_int_eq(spool_join(t), 0);
    ck_assert_ptr_eq(g.item, ITEM(1));
    ck_assert_int_eq(g.rc2, -ECANCELED);
    ck_assert_uint_eq(spool_queue_len(&q), 0);
    /* A putter whose item was taken, then cancelled: its put succeeded, the
     * item is queued exactly once. */
    ck_assert_int_eq(spool_queue_put(&q, ITEM(2)), 0);
    struct waiter_arg p = {.q = &q, .item = ITEM(3)};
    t = spawn_blocked(putter_twice, &p);
    ck_assert_int_eq(spool_queue_get(&q, &it), 0);
    ck_assert_ptr_eq(it, ITEM(2));
    spool_task_cancel(t);
    ck_assert_int_eq(spool_join(t), 0);
    ck_assert_int_eq(p.rc2, -ECANCELED);
    ck_assert_uint_eq(spool_queue_len(&q), 1);
    ck_assert_int_eq(spool_queue_try_get(&q, &it), 0);
    ck_assert_ptr_eq(it, ITEM(3));
    ck_assert_int_eq(spool_queue_try_get(&q, &it), -EAGAIN);
    /* The same with a timeout that expires while the hand-off is made (the
     * one worker is busy, so the timer cannot end the wait first). The
     * waiter must still be waiting when main runs again: where the worker
     * was preempted long enough between the waiter's block and main's turn
     * for the timer to fire first (a loaded machine, TSan), the waiter
     * timed out with nothing, and the scene is played again with a timeout
     * twice as long. */
    for (uint64_t to = SPOOL_MSEC;; to *= 2) {
        ck_assert_uint_lt(to, SPOOL_SEC);
        struct waiter_arg g2 = {.q = &q, .to_ns = to};
        t = spawn_waiting(getter_once, &g2);
        if (atomic_load(&g2.done)) {
            ck_assert_int_eq(spool_join(t), -ETIMEDOUT);
            continue;
        }
        spin_ns(to + 2 * SPOOL_MSEC);
        ck_assert_int_eq(spool_queue_put(&q, ITEM(4)), 0);
        ck_assert_int_eq(spool_join(t), 0);
        ck_assert_ptr_eq(g2.item, ITEM(4));
        break;
    }
    ck_assert_int_eq(spool_queue_put(&q, ITEM(5)), 0);
    for (uint64_t to = SPOOL_MSEC;; to *= 2) {
        ck_assert_uint_lt(to, SPOOL_SEC);
        struct waiter_arg p2 = {.q = &q, .item = ITEM(6), .to_ns = to};
        t = spawn_waiting(putter_once, &p2);
        if (atomic_load(&p2.done)) {
            ck_assert_int_eq(spool_join(t), -ETIMEDOUT);
            continue;
        }
        spin_ns(to + 2 * SPOOL_MSEC);
        ck_assert_int_eq(spool_queue_get(&q, &it), 0);
        ck_assert_ptr_eq(it, ITEM(5));
        ck_assert_int_eq(spool_join(t), 0);
        break;
    }
    ck_assert_int_eq(spool_queue_try_get(&q, &it), 0);
    ck_assert_ptr_eq(it, ITEM(6));
    /* Close, then cancel, a waiting putter: -EPIPE, not queued. */
    ck_assert_int_eq(spool_queue_put(&q, ITEM(7)), 0);
    struct waiter_arg p3 = {.q = &q, .item = ITEM(8)};
    t = spawn_blocked(putter_twice, &p3);
    spool_queue_close(&q);
    spool_task_cancel(t);
    ck_assert_int_eq(spool_join(t), -EPIPE);
    ck_assert_int_eq(spool_queue_try_get(&q, &it), 0);
    ck_assert_ptr_eq(it, ITEM(7));
    ck_assert_int_eq(spool_queue_try_get(&q, &it), -EPIPE);
    return 0;
}

START_TEST(a_waiter_cancelled_or_timed_out_after_its_hand_off_keeps_it)
{
    ck_assert_int_eq(run_on(1, handed_then_cancelled_main, NULL), 0);
}
END_TEST

/* ---- races: MPMC --------------------------------------------------------------- */

#define MAX_SIDE 8

/* One round of a race: a queue, its producers and consumers, and what was
 * put and seen of every item. Item ids are p * per + seq, put as id + 1. */
struct race {
    spool_queue q;
    void **slots;
    unsigned producers, consumers;
    unsigned per;                  /* items per producer */
    _Atomic uint8_t *seen;         /* gets that returned the item */
    _Atomic uint8_t *put_ok;       /* puts of it that returned 0 */
    _Atomic int order_errors;      /* a consumer saw a producer's items out of order */
    _Atomic int other_errors;      /* an unexpected result */
    _Atomic unsigned gave_up;      /* puts and gets that timed out or were cancelled */
    uint64_t seed;
    uint64_t to_max_ns;            /* timeout scopes of up to this (0: none) */
};

static void record_seen(struct race *r, void *it, long *last)
{
    uintptr_t id = VAL(it) - 1;
    if (id >= (uintptr_t)r->producers * r->per) { /* never put (0xdead, 0xbad, garbage) */
        atomic_fetch_add(&r->other_errors, 1);
        return;
    }
    unsigned p = (unsigned)(id / r->per), seq = (unsigned)(id % r->per);
    if (atomic_fetch_add_explicit(&r->seen[id], 1, memory_order_relaxed) != 0)
        atomic_fetch_add(&r->other_errors, 1); /* a duplicate */
    if (last) {
        if ((long)seq <= last[p])
            atomic_fetch_add(&r->order_errors, 1);
        last[p] = seq;
    }
}

/* Producer p (arg: p, with the round in a static): puts its items in order. */
static struct race *the_race;

/* Producer p's side of the MPMC races: puts its items in order with put
 * (spool_queue_put or _put_blocking); with rng, yields after one put in
 * 16 or so. Returns: 0, or the first failed put's result. */
static int produce_in_order(struct race *r, unsigned p, int (*put)(spool_queue *, void *), uint64_t *rng)
{
    for (unsigned s = 0; s < r->per; s++) {
        uintptr_t id = (uintptr_t)p * r->per + s;
        int rc = put(&r->q, ITEM(id + 1));
        if (rc != 0) {
            atomic_fetch_add(&r->other_errors, 1);
            return rc;
        }
        atomic_store_explicit(&r->put_ok[id], 1, memory_order_relaxed);
        if (rng && xorshift(rng) % 16 == 0)
            spool_yield();
    }
    return 0;
}

/* A consumer's side: gets with get (spool_queue_get or _get_blocking)
 * until the queue is closed and drained, recording every item and each
 * producer's order; with rng, yields after one get in 16 or so. */
static void consume_in_order(struct race *r, int (*get)(spool_queue *, void **), uint64_t *rng)
{
    long last[MAX_SIDE];
    for (int i = 0; i < MAX_SIDE; i++)
        last[i] = -1;
    void *it;
    int rc;
    while ((rc = get(&r->q, &it)) == 0) {
        record_seen(r, it, last);
        if (rng && xorshift(rng) % 16 == 0)
            spool_yield();
    }
    if (rc != -EPIPE)
        atomic_fetch_add(&r->other_errors, 1);
}

static int mpmc_producer(void *arg)
{
    struct race *r = the_race;
    unsigned p = (unsigned)(uintptr_t)arg;
    uint64_t rng = r->seed + p * 7919 + 1;
    return produce_in_order(r, p, spool_queue_put, &rng);
}

static int mpmc_consumer(void *arg)
{
    struct race *r = the_race;
    uint64_t rng = r->seed + (uintptr_t)arg * 104729 + 3;
    consume_in_order(r, spool_queue_get, &rng);
    return 0;
}

/* Drains what is left (the queue is closed), counting it as seen; then
 * checks that every item was seen exactly as often as it was put. */
static void drain_and_check(struct race *r)
{
    void *it;
    int rc;
    while ((rc = spool_queue_try_get(&r->q, &it)) == 0)
        record_seen(r, it, NULL);
    REQUIRE(rc == -EPIPE);
    REQUIRE(spool_queue_len(&r->q) == 0);
    size_t n = (size_t)r->producers * r->per;
    for (size_t i = 0; i < n; i++)
        if (atomic_load(&r->seen[i]) != atomic_load(&r->put_ok[i]))
            ck_abort_msg("item %zu: put %d times, got %d times", i, atomic_load(&r->put_ok[i]),
                         atomic_load(&r->seen[i]));
    REQUIRE(atomic_load(&r->order_errors) == 0);
    REQUIRE(atomic_load(&r->other_errors) == 0);
}

static void race_reset(struct race *r, unsigned cap, unsigned producers, unsigned consumers, unsigned per)
{
    ck_assert_uint_le(producers, MAX_SIDE);
    spool_queue_init(&r->q, r->slots, cap);
    r->producers = producers;
    r->consumers = consumers;
    r->per = per;
    memset((void *)r->seen, 0, (size_t)producers * per);
    memset((void *)r->put_ok, 0, (size_t)producers * per);
    atomic_store(&r->order_errors, 0);
    atomic_store(&r->other_errors, 0);
}

static void race_alloc(struct race *r, size_t items, size_t cap)
{
    memset(r, 0, sizeof *r);
    r->slots = calloc(cap, sizeof *r->slots);
    r->seen = calloc(items, 1);
    r->put_ok = calloc(items, 1);
    ck_assert(r->slots && r->seen && r->put_ok);
    the_race = r;
}

static void race_free(struct race *r)
{
    free(r->slots);
    free((void *)r->seen);
    free((void *)r->put_ok);
}

static void mpmc_round(struct race *r)
{
    spool_task *p[MAX_SIDE], *c[MAX_SIDE];
    for (unsigned i = 0; i < r->consumers; i++)
        REQUIRE((c[i] = spool_spawn(mpmc_consumer, ITEM(i))) != NULL);
    for (unsigned i = 0; i < r->producers; i++)
        REQUIRE((p[i] = spool_spawn(mpmc_producer, ITEM(i))) != NULL);
    REQUIRE(spool_gather(p, r->producers, NULL) == 0);
    REQUIRE(spool_queue_close(&r->q) == 0);
    REQUIRE(spool_gather(c, r->consumers, NULL) == 0);
    drain_and_check(r);
    /* With consumers, they took everything. */
    size_t n = (size_t)r->producers * r->per;
    for (size_t i = 0; i < n; i++)
        REQUIRE(atomic_load(&r->put_ok[i]) == 1);
}

static const unsigned caps[] = {1, 1, 2, 3, 4, 8, 64};

static int mpmc_main(void *arg)
{
    struct race r;
    unsigned big = SANITIZED ? 5000 : 50000;
    race_alloc(&r, (size_t)4 * big, 64);
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    unsigned rounds = SANITIZED ? 1000 : 5000;
    for (unsigned round = 0; round < rounds; round++) {
        unsigned cap = caps[xorshift(&rng) % (sizeof caps / sizeof caps[0])];
        unsigned np = 1 + (unsigned)(xorshift(&rng) % 4), nc = 1 + (unsigned)(xorshift(&rng) % 4);
        race_reset(&r, cap, np, nc, 1 + (unsigned)(xorshift(&rng) % 200));
        r.seed = xorshift(&rng);
        mpmc_round(&r);
    }
    /* One long round each of 4 x 4 through 1 slot and through 64. */
    race_reset(&r, 1, 4, 4, big / 4);
    mpmc_round(&r);
    race_reset(&r, 64, 4, 4, big);
    mpmc_round(&r);
    race_free(&r);
    return 0;
}

static const unsigned race_workers[] = {2, 4};

START_TEST(mpmc_delivers_every_item_once_and_in_each_producers_order)
{
    ck_assert_int_eq(run_on(race_workers[_i], mpmc_main, NULL), 0);
}
END_TEST

/* ---- races: close against puts and gets ----------------------------------------- */

/* Puts until the queue is closed; every later put fails too. */
static int close_producer(void *arg)
{
    struct race *r = the_race;
    unsigned p = (unsigned)(uintptr_t)arg;
    for (unsigned s = 0; s < r->per; s++) {
        uintptr_t id = (uintptr_t)p * r->per + s;
        int rc = spool_queue_put(&r->q, ITEM(id + 1));
        if (rc == -EPIPE) {
            if (spool_queue_put(&r->q, ITEM(id + 1)) != -EPIPE ||
                spool_queue_try_put(&r->q, ITEM(id + 1)) != -EPIPE)
                atomic_fetch_add(&r->other_errors, 1);
            return 0;
        }
        if (rc != 0) {
            atomic_fetch_add(&r->other_errors, 1);
            return rc;
        }
        atomic_store_explicit(&r->put_ok[id], 1, memory_order_relaxed);
    }
    return 0;
}

static int closer(void *arg)
{
    struct race *r = the_race;
    uint64_t rng = r->seed | 1;
    unsigned yields = (unsigned)(xorshift(&rng) % 64);
    for (unsigned i = 0; i < yields; i++)
        spool_yield();
    return spool_queue_close(&r->q);
}

static int close_race_main(void *arg)
{
    struct race r;
    race_alloc(&r, 4 * 64, 4);
    uint64_t rng = 0x2545f4914f6cdd1dull;
    unsigned rounds = SANITIZED ? 2000 : 10000;
    unsigned epipe_getters = 0;
    for (unsigned round = 0; round < rounds; round++) {
        /* 0-3 producers and 0-3 consumers: with none of one side, the
         * other waits until the close. */
        unsigned np = (unsigned)(xorshift(&rng) % 4), nc = (unsigned)(xorshift(&rng) % 4);
        race_reset(&r, 1 + (unsigned)(xorshift(&rng) % 4), np, nc, 64);
        r.seed = xorshift(&rng);
        spool_task *p[MAX_SIDE], *c[MAX_SIDE], *cl;
        for (unsigned i = 0; i < nc; i++)
            REQUIRE((c[i] = spool_spawn(mpmc_consumer, ITEM(i))) != NULL);
        for (unsigned i = 0; i < np; i++)
            REQUIRE((p[i] = spool_spawn(close_producer, ITEM(i))) != NULL);
        REQUIRE((cl = spool_spawn(closer, NULL)) != NULL);
        /* Consumers end only once the queue is closed and drained;
         * producers once they are done or it is closed. */
        REQUIRE(spool_gather(c, nc, NULL) == 0);
        REQUIRE(spool_gather(p, np, NULL) == 0);
        REQUIRE(spool_join(cl) == 0);
        if (nc > 0) /* the consumers drained it */
            REQUIRE(spool_queue_len(&r.q) == 0);
        epipe_getters += nc;
        drain_and_check(&r);
    }
    ck_assert_uint_gt(epipe_getters, 0);
    race_free(&r);
    return 0;
}

START_TEST(close_racing_puts_and_gets_loses_and_duplicates_nothing)
{
    ck_assert_int_eq(run_on(race_workers[_i], close_race_main, NULL), 0);
}
END_TEST

/* ---- races: cancellation and timeouts against hand-offs ---------------------------- */

/* A timed producer: each put under a scope of a random few microseconds
 * (sometimes none); an item whose put timed out is dropped. */
static int timed_producer(void *arg)
{
    struct race *r = the_race;
    unsigned p = (unsigned)(uintptr_t)arg;
    uint64_t rng = r->seed + p * 31 + 5;
    for (unsigned s = 0; s < r->per; s++) {
        uintptr_t id = (uintptr_t)p * r->per + s;
        uint64_t ns = xorshift(&rng) % (r->to_max_ns + 1);
        spool_timeout to;
        if (ns)
            spool_timeout_enter(&to, ns);
        int rc = spool_queue_put(&r->q, ITEM(id + 1));
        if (ns)
            spool_timeout_exit(&to);
        if (rc == 0)
            atomic_store_explicit(&r->put_ok[id], 1, memory_order_relaxed);
        else if (rc == -ETIMEDOUT)
            atomic_fetch_add_explicit(&r->gave_up, 1, memory_order_relaxed);
        else
            atomic_fetch_add(&r->other_errors, 1);
    }
    return 0;
}

static int timed_consumer(void *arg)
{
    struct race *r = the_race;
    uint64_t rng = r->seed + (uintptr_t)arg * 17 + 11;
    for (;;) {
        uint64_t ns = xorshift(&rng) % (r->to_max_ns + 1);
        spool_timeout to;
        void *it;
        if (ns)
            spool_timeout_enter(&to, ns);
        int rc = spool_queue_get(&r->q, &it);
        if (ns)
            spool_timeout_exit(&to);
        if (rc == 0)
            record_seen(r, it, NULL);
        else if (rc == -EPIPE)
            return 0;
        else if (rc == -ETIMEDOUT)
            atomic_fetch_add_explicit(&r->gave_up, 1, memory_order_relaxed);
        else
            atomic_fetch_add(&r->other_errors, 1);
    }
}

/* A victim producer (its own producer index): puts until cancelled. */
static int victim_producer(void *arg)
{
    struct race *r = the_race;
    unsigned p = (unsigned)(uintptr_t)arg;
    for (unsigned s = 0; s < r->per; s++) {
        uintptr_t id = (uintptr_t)p * r->per + s;
        int rc = spool_queue_put(&r->q, ITEM(id + 1));
        if (rc == 0)
            atomic_store_explicit(&r->put_ok[id], 1, memory_order_relaxed);
        else if (rc == -ECANCELED) {
            atomic_fetch_add_explicit(&r->gave_up, 1, memory_order_relaxed);
            return 0;
        }
        else
            atomic_fetch_add(&r->other_errors, 1);
    }
    return 0;
}

/* A victim consumer: gets until cancelled (or the close). */
static int victim_consumer(void *arg)
{
    struct race *r = the_race;
    void *it;
    for (;;) {
        int rc = spool_queue_get(&r->q, &it);
        if (rc == 0)
            record_seen(r, it, NULL);
        else if (rc == -ECANCELED || rc == -EPIPE) {
            atomic_fetch_add_explicit(&r->gave_up, rc == -ECANCELED, memory_order_relaxed);
            return 0;
        }
        else
            atomic_fetch_add(&r->other_errors, 1);
    }
}

static int cancel_race_main(void *arg)
{
    struct race r;
    /* Producers 0-1 timed, 2-3 victims. */
    race_alloc(&r, 4 * 64, 4);
    uint64_t rng = 0x853c49e6748fea9bull;
    unsigned rounds = SANITIZED ? 1000 : 5000;
    for (unsigned round = 0; round < rounds; round++) {
        race_reset(&r, 1 + (unsigned)(xorshift(&rng) % 4), 4, 0, 64);
        r.seed = xorshift(&rng);
        r.to_max_ns = 1 + xorshift(&rng) % (SANITIZED ? 200000 : 50000);
        spool_task *tp[2], *tc[2], *vp[2], *vc[2];
        for (unsigned i = 0; i < 2; i++) {
            REQUIRE((tc[i] = spool_spawn(timed_consumer, ITEM(i))) != NULL);
            REQUIRE((vc[i] = spool_spawn(victim_consumer, NULL)) != NULL);
            REQUIRE((tp[i] = spool_spawn(timed_producer, ITEM(i))) != NULL);
            REQUIRE((vp[i] = spool_spawn(victim_producer, ITEM(2 + i))) != NULL);
        }
        /* Cancel the victims at random moments. */
        for (unsigned i = 0; i < 4; i++) {
            unsigned yields = (unsigned)(xorshift(&rng) % 32);
            for (unsigned y = 0; y < yields; y++)
                spool_yield();
            spool_task_cancel(i < 2 ? vp[i] : vc[i - 2]);
        }
        REQUIRE(spool_gather(vp, 2, NULL) == 0);
        REQUIRE(spool_gather(tp, 2, NULL) == 0);
        spool_queue_close(&r.q);
        REQUIRE(spool_gather(vc, 2, NULL) == 0);
        REQUIRE(spool_gather(tc, 2, NULL) == 0);
        drain_and_check(&r);
    }
    ck_assert_uint_gt(atomic_load(&r.gave_up), rounds);
    race_free(&r);
    return 0;
}

START_TEST(cancels_and_timeouts_racing_hand_offs_lose_and_duplicate_nothing)
{
    ck_assert_int_eq(run_on(race_workers[_i], cancel_race_main, NULL), 0);
}
END_TEST

/* ---- plain threads ---------------------------------------------------------------- */

/* Threads produce with put_blocking (producer index p: arg). */
static void *thread_producer(void *arg)
{
    return (void *)(intptr_t)produce_in_order(the_race, (unsigned)(uintptr_t)arg, spool_queue_put_blocking, NULL);
}

static void *thread_consumer(void *arg)
{
    (void)arg;
    consume_in_order(the_race, spool_queue_get_blocking, NULL);
    return NULL;
}

/* Producers 0-1 are threads, 2-3 tasks; consumers 0-1 threads, 2-3 tasks. */
static int threads_main(void *arg)
{
    struct race r;
    unsigned per = SANITIZED ? 2000 : 20000;
    race_alloc(&r, (size_t)4 * per, 2);
    race_reset(&r, 2, 4, 4, per);
    r.seed = 42;
    pthread_t tp[2], tc[2];
    spool_task *p[2], *c[2];
    for (unsigned i = 0; i < 2; i++) {
        ck_assert_int_eq(pthread_create(&tc[i], NULL, thread_consumer, NULL), 0);
        ck_assert_ptr_nonnull(c[i] = spool_spawn(mpmc_consumer, ITEM(2 + i)));
        ck_assert_int_eq(pthread_create(&tp[i], NULL, thread_producer, ITEM(i)), 0);
        ck_assert_ptr_nonnull(p[i] = spool_spawn(mpmc_producer, ITEM(2 + i)));
    }
    for (unsigned i = 0; i < 2; i++)
        ck_assert_int_eq(spool_to_thread(join_thread, &tp[i]), 0);
    ck_assert_int_eq(spool_gather(p, 2, NULL), 0);
    spool_queue_close(&r.q);
    for (unsigned i = 0; i < 2; i++)
        ck_assert_int_eq(spool_to_thread(join_thread, &tc[i]), 0);
    ck_assert_int_eq(spool_gather(c, 2, NULL), 0);
    drain_and_check(&r);
    for (size_t i = 0; i < (size_t)4 * per; i++)
        REQUIRE(atomic_load(&r.put_ok[i]) == 1);
    race_free(&r);
    return 0;
}

START_TEST(plain_threads_and_tasks_pass_items_both_ways)
{
    ck_assert_int_eq(run_on(race_workers[_i], threads_main, NULL), 0);
}
END_TEST

struct one_call {
    spool_queue *q;
    void *item;
    int rc;
    _Atomic int started;
};

static void *one_get_blocking(void *arg)
{
    struct one_call *c = arg;
    void *it = ITEM(0xdead);
    atomic_store(&c->started, 1);
    c->rc = spool_queue_get_blocking(c->q, &it);
    c->item = it;
    return NULL;
}

static void *one_put_blocking(void *arg)
{
    struct one_call *c = arg;
    atomic_store(&c->started, 1);
    c->rc = spool_queue_put_blocking(c->q, c->item);
    return NULL;
}

static void start_thread(pthread_t *th, void *(*fn)(void *), struct one_call *c)
{
    ck_assert_int_eq(pthread_create(th, NULL, fn, c), 0);
    while (!atomic_load(&c->started))
        spool_sleep_ms(1);
    spool_sleep_ms(10); /* most likely asleep in the call by now (either way is correct) */
}

static int thread_wakes_main(void *arg)
{
    void *slots[1], *it;
    spool_queue q;
    pthread_t th;
    /* A task's put wakes a thread waiting in get_blocking. */
    spool_queue_init(&q, slots, 1);
    struct one_call g = {.q = &q};
    start_thread(&th, one_get_blocking, &g);
    ck_assert_int_eq(spool_queue_put(&q, ITEM(1)), 0);
    ck_assert_int_eq(spool_to_thread(join_thread, &th), 0);
    ck_assert_int_eq(g.rc, 0);
    ck_assert_ptr_eq(g.item, ITEM(1));
    /* A task's get takes a waiting thread's item into the ring. */
    ck_assert_int_eq(spool_queue_put(&q, ITEM(2)), 0);
    struct one_call p = {.q = &q, .item = ITEM(3)};
    start_thread(&th, one_put_blocking, &p);
    ck_assert_int_eq(spool_queue_get(&q, &it), 0);
    ck_assert_ptr_eq(it, ITEM(2));
    ck_assert_int_eq(spool_to_thread(join_thread, &th), 0);
    ck_assert_int_eq(p.rc, 0);
    ck_assert_int_eq(spool_queue_get(&q, &it), 0);
    ck_assert_ptr_eq(it, ITEM(3));
    /* A thread's put wakes a task waiting in get, a thread's get a task
     * waiting in put. */
    struct waiter_arg tg = {.q = &q};
    spool_task *t = spool_spawn(getter_once, &tg);
    ck_assert_ptr_nonnull(t);
    while (!atomic_load(&tg.started))
        spool_yield();
    spool_sleep_ms(5);
    struct one_call p2 = {.q = &q, .item = ITEM(4)};
    start_thread(&th, one_put_blocking, &p2);
    ck_assert_int_eq(spool_join(t), 0);
    ck_assert_ptr_eq(tg.item, ITEM(4));
    ck_assert_int_eq(spool_to_thread(join_thread, &th), 0);
    ck_assert_int_eq(p2.rc, 0);
    ck_assert_int_eq(spool_queue_put(&q, ITEM(5)), 0);
    struct waiter_arg tp = {.q = &q, .item = ITEM(6)};
    t = spool_spawn(putter_once, &tp);
    ck_assert_ptr_nonnull(t);
    while (!atomic_load(&tp.started))
        spool_yield();
    spool_sleep_ms(5);
    struct one_call g2 = {.q = &q};
    start_thread(&th, one_get_blocking, &g2);
    ck_assert_int_eq(spool_join(t), 0);
    ck_assert_int_eq(spool_to_thread(join_thread, &th), 0);
    ck_assert_ptr_eq(g2.item, ITEM(5));
    ck_assert_int_eq(spool_queue_try_get(&q, &it), 0);
    ck_assert_ptr_eq(it, ITEM(6));
    /* Close: a thread waiting in get_blocking, then one waiting in
     * put_blocking on a full queue, gets -EPIPE. */
    struct one_call g3 = {.q = &q};
    start_thread(&th, one_get_blocking, &g3);
    spool_queue_close(&q);
    ck_assert_int_eq(spool_to_thread(join_thread, &th), 0);
    ck_assert_int_eq(g3.rc, -EPIPE);
    ck_assert_ptr_eq(g3.item, ITEM(0xdead));
    spool_queue_init(&q, slots, 1);
    ck_assert_int_eq(spool_queue_put(&q, ITEM(7)), 0);
    struct one_call p3 = {.q = &q, .item = ITEM(8)};
    start_thread(&th, one_put_blocking, &p3);
    spool_queue_close(&q);
    ck_assert_int_eq(spool_to_thread(join_thread, &th), 0);
    ck_assert_int_eq(p3.rc, -EPIPE);
    ck_assert_int_eq(spool_queue_get(&q, &it), 0);
    ck_assert_ptr_eq(it, ITEM(7));
    ck_assert_int_eq(spool_queue_get(&q, &it), -EPIPE);
    return 0;
}

START_TEST(threads_and_tasks_wake_each_other_and_close_wakes_threads)
{
    ck_assert_int_eq(run_on(2, thread_wakes_main, NULL), 0);
}
END_TEST

/* Two plain threads and no runtime at all. */
struct solo {
    spool_queue q;
    void *slots[1];
    uintptr_t n;
    uintptr_t bad;
};

static void *solo_producer(void *arg)
{
    struct solo *s = arg;
    for (uintptr_t i = 1; i <= s->n; i++)
        if (spool_queue_put_blocking(&s->q, ITEM(i)) != 0)
            return ITEM(1);
    spool_queue_close(&s->q);
    return NULL;
}

START_TEST(plain_threads_alone_use_the_blocking_calls_in_order)
{
    struct solo s = {.n = SANITIZED ? 5000 : 50000};
    ck_assert_int_eq(spool_queue_init(&s.q, s.slots, 1), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, solo_producer, &s), 0);
    uintptr_t want = 1;
    void *it;
    int rc;
    while ((rc = spool_queue_get_blocking(&s.q, &it)) == 0) {
        REQUIRE(VAL(it) == want);
        want++;
    }
    ck_assert_int_eq(rc, -EPIPE);
    ck_assert_uint_eq(want, s.n + 1);
    void *ret;
    ck_assert_int_eq(pthread_join(th, &ret), 0);
    ck_assert_ptr_null(ret);
}
END_TEST

/* ---- runner ---------------------------------------------------------------------- */

static Suite *queue_suite(void)
{
    Suite *s = suite_create("queue");
    ADD_TEST(s, the_static_initializer_and_init_make_an_empty_queue_of_n_slots);
    ADD_TEST(s, bad_arguments_return_einval);
    ADD_TEST(s, try_put_and_try_get_are_fifo_across_many_wrap_arounds);
    ADD_TEST(s, put_and_get_need_a_task_and_the_blocking_calls_refuse_one);
    ADD_TEST(s, close_fails_every_put_and_lets_gets_drain_then_fail);
    ADD_TEST(s, getters_are_served_in_the_order_they_blocked_and_nobody_barges);
    ADD_TEST(s, putters_are_served_in_the_order_they_blocked_and_nobody_barges);
    ADD_TEST(s, close_fails_waiting_putters_and_getters_with_epipe);
    ADD_TEST(s, a_cancelled_or_timed_out_task_fails_put_and_get_even_when_they_could_go_on);
    ADD_TEST(s, a_waiter_that_gives_up_takes_nothing_and_queues_nothing);
    ADD_TEST(s, a_waiter_cancelled_or_timed_out_after_its_hand_off_keeps_it);
    ADD_LOOP_TEST(s, mpmc_delivers_every_item_once_and_in_each_producers_order, 2);
    ADD_LOOP_TEST(s, close_racing_puts_and_gets_loses_and_duplicates_nothing, 2);
    ADD_LOOP_TEST(s, cancels_and_timeouts_racing_hand_offs_lose_and_duplicate_nothing, 2);
    ADD_LOOP_TEST(s, plain_threads_and_tasks_pass_items_both_ways, 2);
    ADD_TEST(s, threads_and_tasks_wake_each_other_and_close_wakes_threads);
    ADD_TEST(s, plain_threads_alone_use_the_blocking_calls_in_order);
    return s;
}

int main(void)
{
    return check_main(queue_suite, 120);
}
