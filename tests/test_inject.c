/*
 * test_inject.c — white-box tests of the runtime's inject queue
 * (runtime/inject.h): FIFO order, chains pushed as one batch, pops bounded
 * by max, the consumer try-lock, and 4 producers racing 2 consumers with
 * every task received exactly once and each producer's order kept.
 *
 * Tasks here are fake records from a calloc'd array; the queue links them
 * through ->next.
 */
#include "inject.h"

#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"

/* n zeroed records, aligned as records are (task.h); free() them. */
static spool_task *fake_tasks(size_t n)
{
    spool_task *t = aligned_alloc(_Alignof(spool_task), n * sizeof *t);
    ck_assert_ptr_nonnull(t);
    memset(t, 0, n * sizeof *t);
    return t;
}

static void push_one(spool__inject *q, spool_task *t)
{
    spool__inject_push(q, t, t, 1);
}

/* Links t[from..to] through ->next and pushes them as one chain. */
static void push_chain(spool__inject *q, spool_task *t, int from, int to)
{
    for (int i = from; i < to; i++)
        atomic_store_explicit(&t[i].next, &t[i + 1], memory_order_relaxed);
    spool__inject_push(q, &t[from], &t[to], (uint32_t)(to - from + 1));
}

/* ---- single-threaded behaviour ------------------------------------------- */

START_TEST(tasks_come_out_in_the_order_they_went_in)
{
    spool__inject q;
    spool__inject_init(&q);
    spool_task *t = fake_tasks(10);
    for (int i = 0; i < 10; i++)
        push_one(&q, &t[i]);
    ck_assert_int_eq(spool__inject_len(&q), 10);
    spool_task *out[16];
    ck_assert_uint_eq(spool__inject_pop(&q, out, 16), 10);
    for (int i = 0; i < 10; i++)
        ck_assert_ptr_eq(out[i], &t[i]);
    ck_assert_int_eq(spool__inject_len(&q), 0);
    ck_assert_uint_eq(spool__inject_pop(&q, out, 16), 0);
    free(t);
}
END_TEST

START_TEST(a_chain_goes_in_as_one_batch_in_order)
{
    spool__inject q;
    spool__inject_init(&q);
    spool_task *t = fake_tasks(10);
    push_chain(&q, t, 0, 4);
    push_one(&q, &t[5]);
    push_chain(&q, t, 6, 9);
    ck_assert_int_eq(spool__inject_len(&q), 10);
    spool_task *out[16];
    ck_assert_uint_eq(spool__inject_pop(&q, out, 16), 10);
    for (int i = 0; i < 10; i++)
        ck_assert_ptr_eq(out[i], &t[i]);
    free(t);
}
END_TEST

START_TEST(pop_takes_at_most_max_tasks)
{
    spool__inject q;
    spool__inject_init(&q);
    spool_task *t = fake_tasks(10);
    push_chain(&q, t, 0, 9);
    spool_task *out[4];
    ck_assert_uint_eq(spool__inject_pop(&q, out, 0), 0);
    for (int i = 0; i < 9; i += 3) {
        ck_assert_uint_eq(spool__inject_pop(&q, out, 3), 3);
        for (int j = 0; j < 3; j++)
            ck_assert_ptr_eq(out[j], &t[i + j]);
        ck_assert_int_eq(spool__inject_len(&q), 10 - i - 3);
    }
    ck_assert_uint_eq(spool__inject_pop(&q, out, 3), 1);
    ck_assert_ptr_eq(out[0], &t[9]);
    ck_assert_uint_eq(spool__inject_pop(&q, out, 3), 0);
    free(t);
}
END_TEST

START_TEST(the_queue_drains_and_refills_many_times)
{
    spool__inject q;
    spool__inject_init(&q);
    spool_task *t = fake_tasks(3);
    spool_task *out[4];
    for (int round = 0; round < 10000; round++) {
        int n = 1 + round % 3;
        for (int i = 0; i < n; i++)
            push_one(&q, &t[i]);
        /* Take them one at a time: every pop may have to re-insert the
         * stub behind the last task. */
        for (int i = 0; i < n; i++) {
            ck_assert_uint_eq(spool__inject_pop(&q, out, 1), 1);
            ck_assert_ptr_eq(out[0], &t[i]);
        }
        ck_assert_uint_eq(spool__inject_pop(&q, out, 4), 0);
        ck_assert_int_eq(spool__inject_len(&q), 0);
    }
    free(t);
}
END_TEST

START_TEST(a_consumer_that_loses_the_try_lock_gets_nothing_and_takes_nothing)
{
    spool__inject q;
    spool__inject_init(&q);
    spool_task *t = fake_tasks(3);
    push_chain(&q, t, 0, 2);
    spool_task *out[4];
    atomic_store(&q.consuming, true); /* another worker is draining */
    ck_assert_uint_eq(spool__inject_pop(&q, out, 4), 0);
    ck_assert_int_eq(spool__inject_len(&q), 3);
    atomic_store(&q.consuming, false);
    ck_assert_uint_eq(spool__inject_pop(&q, out, 4), 3);
    ck_assert_ptr_eq(out[0], &t[0]);
    ck_assert_ptr_eq(out[2], &t[2]);
    free(t);
}
END_TEST

/* ---- producers racing consumers -------------------------------------------- */

#define PRODUCERS 4
#define CONSUMERS 2

static spool__inject mp_q;
static spool_task *mp_tasks;
static unsigned mp_per_producer;
static _Atomic unsigned char *mp_seen;
static _Atomic uint64_t mp_received;
static _Atomic uint64_t mp_duplicates, mp_out_of_order;
static _Atomic int mp_go;

static void *producer(void *arg)
{
    unsigned p = (unsigned)(uintptr_t)arg;
    uint64_t rng = 0x2545F4914F6CDD1Du * (p + 1);
    spool_task *mine = &mp_tasks[(size_t)p * mp_per_producer];
    while (!atomic_load_explicit(&mp_go, memory_order_acquire))
        ;
    unsigned i = 0;
    while (i < mp_per_producer) {
        unsigned len = 1 + (unsigned)(xorshift(&rng) % 8);
        if (len > mp_per_producer - i)
            len = mp_per_producer - i;
        for (unsigned j = i; j + 1 < i + len; j++)
            atomic_store_explicit(&mine[j].next, &mine[j + 1], memory_order_relaxed);
        spool__inject_push(&mp_q, &mine[i], &mine[i + len - 1], len);
        i += len;
    }
    return NULL;
}

static void *consumer(void *arg)
{
    uint64_t rng = (uintptr_t)arg * 7919u + 1;
    uint64_t total = (uint64_t)PRODUCERS * mp_per_producer;
    /* The last sequence number this consumer saw from each producer: one
     * consumer's pops are ordered, so they must grow. */
    int64_t last[PRODUCERS];
    for (int p = 0; p < PRODUCERS; p++)
        last[p] = -1;
    spool_task *out[64];
    while (atomic_load_explicit(&mp_received, memory_order_acquire) < total) {
        uint32_t max = 1 + (uint32_t)(xorshift(&rng) % 64);
        uint32_t n = spool__inject_pop(&mp_q, out, max);
        REQUIRE(n <= max);
        for (uint32_t k = 0; k < n; k++) {
            size_t id = (size_t)(out[k] - mp_tasks);
            REQUIRE(id < total);
            unsigned p = (unsigned)(id / mp_per_producer);
            int64_t seq = (int64_t)(id % mp_per_producer);
            if (seq <= last[p])
                atomic_fetch_add(&mp_out_of_order, 1);
            last[p] = seq;
            if (atomic_fetch_add_explicit(&mp_seen[id], 1, memory_order_relaxed))
                atomic_fetch_add(&mp_duplicates, 1);
        }
        if (n)
            atomic_fetch_add_explicit(&mp_received, n, memory_order_release);
    }
    return NULL;
}

START_TEST(four_producers_and_two_consumers_lose_nothing_and_keep_each_producers_order)
{
    unsigned rounds = SANITIZED ? 1 : 8;
    mp_per_producer = SANITIZED ? 20000 : 250000;
    size_t total = (size_t)PRODUCERS * mp_per_producer;
    mp_tasks = fake_tasks(total);
    mp_seen = calloc(total, 1);
    ck_assert_ptr_nonnull((void *)mp_seen);
    for (unsigned r = 0; r < rounds; r++) {
        spool__inject_init(&mp_q);
        atomic_store(&mp_go, 0);
        atomic_store(&mp_received, 0);
        pthread_t prod[PRODUCERS], cons[CONSUMERS];
        for (int i = 0; i < CONSUMERS; i++)
            ck_assert_int_eq(pthread_create(&cons[i], NULL, consumer, (void *)(uintptr_t)(i + 1 + r)), 0);
        for (int i = 0; i < PRODUCERS; i++)
            ck_assert_int_eq(pthread_create(&prod[i], NULL, producer, (void *)(uintptr_t)i), 0);
        atomic_store_explicit(&mp_go, 1, memory_order_release);
        for (int i = 0; i < PRODUCERS; i++)
            pthread_join(prod[i], NULL);
        for (int i = 0; i < CONSUMERS; i++)
            pthread_join(cons[i], NULL);
        ck_assert_uint_eq(atomic_load(&mp_received), total);
        ck_assert_uint_eq(atomic_load(&mp_duplicates), 0);
        ck_assert_uint_eq(atomic_load(&mp_out_of_order), 0);
        for (size_t i = 0; i < total; i++) {
            REQUIRE(atomic_load_explicit(&mp_seen[i], memory_order_relaxed) == 1);
            atomic_store_explicit(&mp_seen[i], 0, memory_order_relaxed);
        }
        ck_assert_int_eq(spool__inject_len(&mp_q), 0);
        spool_task *out[1];
        ck_assert_uint_eq(spool__inject_pop(&mp_q, out, 1), 0);
    }
    free((void *)mp_seen);
    free(mp_tasks);
}
END_TEST

/* ---- runner ---------------------------------------------------------------- */

static Suite *inject_suite(void)
{
    Suite *s = suite_create("inject");
    ADD_TEST(s, tasks_come_out_in_the_order_they_went_in);
    ADD_TEST(s, a_chain_goes_in_as_one_batch_in_order);
    ADD_TEST(s, pop_takes_at_most_max_tasks);
    ADD_TEST(s, the_queue_drains_and_refills_many_times);
    ADD_TEST(s, a_consumer_that_loses_the_try_lock_gets_nothing_and_takes_nothing);
    ADD_TEST(s, four_producers_and_two_consumers_lose_nothing_and_keep_each_producers_order);
    return s;
}

int main(void)
{
    return check_main(inject_suite, 120);
}
