/*
 * test_deque.c — white-box tests of a worker's run queue, the Chase-Lev
 * deque (runtime/deque.h): the owner's LIFO end, the thieves' FIFO end,
 * overflow to a chain, steal-half, and an owner racing 1 to 3 thieves with
 * every task received exactly once.
 *
 * Tasks here are fake records from a calloc'd array: the deque stores the
 * pointers and only touches ->next when it overflows.
 */
#include "deque.h"
#include "task.h"

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

/* Pushes t, which must not overflow. */
static void push(spool__deque *d, spool_task *t)
{
    spool_task *last = NULL;
    uint32_t count = 0;
    ck_assert_ptr_null(spool__deque_push(d, t, &last, &count));
}

/* ---- single-threaded behaviour ------------------------------------------- */

START_TEST(take_returns_the_newest_task_first)
{
    spool__deque d;
    spool__deque_init(&d);
    spool_task *t = fake_tasks(10);
    for (int i = 0; i < 10; i++)
        push(&d, &t[i]);
    for (int i = 9; i >= 0; i--)
        ck_assert_ptr_eq(spool__deque_take(&d), &t[i]);
    ck_assert_ptr_null(spool__deque_take(&d));
    ck_assert_int_eq(spool__deque_len(&d), 0);
    free(t);
}
END_TEST

START_TEST(steal_returns_the_oldest_task_first)
{
    spool__deque d;
    spool__deque_init(&d);
    spool_task *t = fake_tasks(10);
    for (int i = 0; i < 10; i++)
        push(&d, &t[i]);
    for (int i = 0; i < 10; i++) {
        int lost = 0;
        ck_assert_ptr_eq(spool__deque_steal(&d, &lost), &t[i]);
        ck_assert_int_eq(lost, 0);
    }
    int lost = 0;
    ck_assert_ptr_null(spool__deque_steal(&d, &lost));
    ck_assert_int_eq(lost, 0); /* empty is not a lost race */
    free(t);
}
END_TEST

START_TEST(take_and_steal_meet_in_the_middle_without_losing_a_task)
{
    spool__deque d;
    spool__deque_init(&d);
    spool_task *t = fake_tasks(9);
    for (int i = 0; i < 9; i++)
        push(&d, &t[i]);
    int lost = 0;
    for (int i = 0; i < 4; i++) {
        ck_assert_ptr_eq(spool__deque_steal(&d, &lost), &t[i]);
        ck_assert_ptr_eq(spool__deque_take(&d), &t[8 - i]);
    }
    ck_assert_int_eq(spool__deque_len(&d), 1);
    ck_assert_ptr_eq(spool__deque_take(&d), &t[4]); /* the last one */
    ck_assert_ptr_null(spool__deque_take(&d));
    ck_assert_ptr_null(spool__deque_steal(&d, &lost));
    free(t);
}
END_TEST

START_TEST(len_counts_the_tasks_in_the_deque)
{
    spool__deque d;
    spool__deque_init(&d);
    spool_task *t = fake_tasks(SPOOL_DEQUE_CAP);
    ck_assert_int_eq(spool__deque_len(&d), 0);
    for (int i = 0; i < SPOOL_DEQUE_CAP; i++) {
        push(&d, &t[i]);
        ck_assert_int_eq(spool__deque_len(&d), i + 1);
    }
    int lost = 0;
    spool__deque_steal(&d, &lost);
    ck_assert_int_eq(spool__deque_len(&d), SPOOL_DEQUE_CAP - 1);
    spool__deque_take(&d);
    ck_assert_int_eq(spool__deque_len(&d), SPOOL_DEQUE_CAP - 2);
    /* take on an empty deque leaves len at 0, not -1 */
    while (spool__deque_take(&d))
        ;
    ck_assert_int_eq(spool__deque_len(&d), 0);
    ck_assert_ptr_null(spool__deque_take(&d));
    ck_assert_int_eq(spool__deque_len(&d), 0);
    free(t);
}
END_TEST

START_TEST(indices_wrap_around_the_ring_many_times)
{
    spool__deque d;
    spool__deque_init(&d);
    spool_task *t = fake_tasks(7);
    int lost = 0;
    for (int round = 0; round < 10 * SPOOL_DEQUE_CAP; round++) {
        for (int i = 0; i < 7; i++)
            push(&d, &t[i]);
        ck_assert_ptr_eq(spool__deque_steal(&d, &lost), &t[0]);
        ck_assert_ptr_eq(spool__deque_take(&d), &t[6]);
        for (int i = 1; i < 6; i++)
            ck_assert_ptr_eq(spool__deque_steal(&d, &lost), &t[i]);
        ck_assert_int_eq(spool__deque_len(&d), 0);
    }
    free(t);
}
END_TEST

START_TEST(pushing_past_capacity_returns_the_oldest_half_as_a_chain)
{
    spool__deque d;
    spool__deque_init(&d);
    spool_task *t = fake_tasks(SPOOL_DEQUE_CAP + 1);
    for (int i = 0; i < SPOOL_DEQUE_CAP; i++)
        push(&d, &t[i]);
    spool_task *last = NULL;
    uint32_t count = 0;
    spool_task *first = spool__deque_push(&d, &t[SPOOL_DEQUE_CAP], &last, &count);
    ck_assert_ptr_eq(first, &t[0]);
    ck_assert_uint_eq(count, SPOOL_DEQUE_CAP / 2);
    ck_assert_ptr_eq(last, &t[SPOOL_DEQUE_CAP / 2 - 1]);
    /* The chain links the oldest tasks in order and ends at last. */
    spool_task *p = first;
    for (uint32_t i = 0; i < count; i++) {
        ck_assert_ptr_eq(p, &t[i]);
        spool_task *next = atomic_load(&p->next);
        if (i + 1 < count)
            ck_assert_ptr_eq(next, &t[i + 1]);
        else
            ck_assert_ptr_null(next);
        p = next;
    }
    /* The deque keeps the newer half plus the new task, newest first. */
    ck_assert_int_eq(spool__deque_len(&d), SPOOL_DEQUE_CAP / 2 + 1);
    for (int i = SPOOL_DEQUE_CAP; i >= SPOOL_DEQUE_CAP / 2; i--)
        ck_assert_ptr_eq(spool__deque_take(&d), &t[i]);
    ck_assert_ptr_null(spool__deque_take(&d));
    free(t);
}
END_TEST

START_TEST(steal_half_moves_about_half_into_the_thiefs_deque)
{
    enum { N = 10 };
    spool__deque src, dst;
    spool__deque_init(&src);
    spool__deque_init(&dst);
    spool_task *t = fake_tasks(N);
    for (int i = 0; i < N; i++)
        push(&src, &t[i]);
    spool_task *got = spool__deque_steal_half(&src, &dst);
    ck_assert_ptr_eq(got, &t[0]); /* the oldest, to run now */
    int64_t moved = 1 + spool__deque_len(&dst);
    ck_assert_int_ge(moved, N / 2);
    ck_assert_int_le(moved, N / 2 + 1);
    ck_assert_int_eq(spool__deque_len(&src), N - moved);
    /* The thief got the oldest ones, in order; the owner kept the newest. */
    int lost = 0;
    for (int i = 1; i < moved; i++)
        ck_assert_ptr_eq(spool__deque_steal(&dst, &lost), &t[i]);
    for (int i = N - 1; i >= moved; i--)
        ck_assert_ptr_eq(spool__deque_take(&src), &t[i]);
    free(t);
}
END_TEST

START_TEST(steal_half_of_one_task_takes_it)
{
    spool__deque src, dst;
    spool__deque_init(&src);
    spool__deque_init(&dst);
    spool_task *t = fake_tasks(1);
    push(&src, &t[0]);
    ck_assert_ptr_eq(spool__deque_steal_half(&src, &dst), &t[0]);
    ck_assert_int_eq(spool__deque_len(&dst), 0);
    ck_assert_ptr_null(spool__deque_steal_half(&src, &dst));
    free(t);
}
END_TEST

START_TEST(steal_half_never_overflows_a_nearly_full_thief)
{
    spool__deque src, dst;
    spool__deque_init(&src);
    spool__deque_init(&dst);
    spool_task *mine = fake_tasks(SPOOL_DEQUE_CAP);
    spool_task *theirs = fake_tasks(SPOOL_DEQUE_CAP);
    for (int i = 0; i < SPOOL_DEQUE_CAP - 2; i++)
        push(&dst, &mine[i]);
    for (int i = 0; i < SPOOL_DEQUE_CAP; i++)
        push(&src, &theirs[i]);
    spool_task *got = spool__deque_steal_half(&src, &dst);
    ck_assert_ptr_eq(got, &theirs[0]);
    ck_assert_int_le(spool__deque_len(&dst), SPOOL_DEQUE_CAP);
    ck_assert_int_eq(spool__deque_len(&src) + spool__deque_len(&dst) + 1, 2 * SPOOL_DEQUE_CAP - 2);
    /* Nothing of dst's own was lost to an overflow. */
    int lost = 0;
    for (int i = 0; i < SPOOL_DEQUE_CAP - 2; i++)
        ck_assert_ptr_eq(spool__deque_steal(&dst, &lost), &mine[i]);
    free(mine);
    free(theirs);
}
END_TEST

/* ---- an owner racing thieves ---------------------------------------------- */

#define RACE_ROUND 65536u
#define MAX_THIEVES 3

static spool__deque race_owner;
static spool_task *race_tasks;
static _Atomic unsigned char race_seen[RACE_ROUND];
static _Atomic uint64_t race_received;
static _Atomic uint64_t race_duplicates;
static _Atomic int race_stop;
static _Atomic uint64_t race_stolen;

static void receive(spool_task *t)
{
    size_t id = (size_t)(t - race_tasks);
    REQUIRE(id < RACE_ROUND);
    if (atomic_fetch_add_explicit(&race_seen[id], 1, memory_order_relaxed) != 0)
        atomic_fetch_add_explicit(&race_duplicates, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&race_received, 1, memory_order_release);
}

static _Atomic int race_thieves_up;

static void *thief(void *arg)
{
    spool__deque *mine = arg;
    uint64_t rng = (uintptr_t)arg | 1;
    atomic_fetch_add(&race_thieves_up, 1);
    while (!atomic_load_explicit(&race_stop, memory_order_acquire)) {
        spool_task *t;
        if (xorshift(&rng) & 1) {
            int lost = 0;
            t = spool__deque_steal(&race_owner, &lost);
        } else {
            t = spool__deque_steal_half(&race_owner, mine);
        }
        if (!t)
            continue;
        atomic_fetch_add_explicit(&race_stolen, 1, memory_order_relaxed);
        receive(t);
        while ((t = spool__deque_take(mine)))
            receive(t);
    }
    return NULL;
}

/* rounds of RACE_ROUND tasks: ~0.5 s each test in the plain build on
 * 2 cores; a sixteenth of that under the sanitizers. More rounds run (up
 * to a bound) until some thief has stolen something, so the race is real
 * even when the thieves' threads start late. */
static void race(int nthieves, unsigned rounds)
{
    if (SANITIZED)
        rounds /= 16;
    spool__deque_init(&race_owner);
    race_tasks = fake_tasks(RACE_ROUND);
    spool__deque thief_deques[MAX_THIEVES];
    pthread_t threads[MAX_THIEVES];
    atomic_store(&race_stop, 0);
    atomic_store(&race_thieves_up, 0);
    for (int i = 0; i < nthieves; i++) {
        spool__deque_init(&thief_deques[i]);
        ck_assert_int_eq(pthread_create(&threads[i], NULL, thief, &thief_deques[i]), 0);
    }
    while (atomic_load(&race_thieves_up) < nthieves)
        sched_yield();
    uint64_t rng = 0x9E3779B97F4A7C15u;
    for (unsigned r = 0; r < rounds || (atomic_load(&race_stolen) == 0 && r < rounds + 1000); r++) {
        uint64_t base = atomic_load(&race_received);
        unsigned next = 0;
        while (next < RACE_ROUND) {
            /* Bursts big enough to overflow now and then. */
            unsigned burst = 1 + (unsigned)(xorshift(&rng) % (SPOOL_DEQUE_CAP + SPOOL_DEQUE_CAP / 2));
            if (burst > RACE_ROUND - next)
                burst = RACE_ROUND - next;
            for (unsigned i = 0; i < burst; i++) {
                spool_task *last = NULL;
                uint32_t count = 0;
                spool_task *chain = spool__deque_push(&race_owner, &race_tasks[next++], &last, &count);
                if (chain) {
                    uint32_t n = 0;
                    spool_task *p = chain, *prev = NULL;
                    while (p) {
                        prev = p;
                        spool_task *nx = atomic_load_explicit(&p->next, memory_order_relaxed);
                        receive(p);
                        n++;
                        p = nx;
                    }
                    REQUIRE(n == count);
                    REQUIRE(prev == last);
                }
            }
            unsigned takes = (unsigned)(xorshift(&rng) % (burst + 1));
            for (unsigned i = 0; i < takes; i++) {
                spool_task *t = spool__deque_take(&race_owner);
                if (!t)
                    break;
                receive(t);
            }
        }
        spool_task *t;
        while ((t = spool__deque_take(&race_owner)))
            receive(t);
        /* Thieves may still be draining what they stole. */
        uint64_t deadline_spins = 0;
        while (atomic_load_explicit(&race_received, memory_order_acquire) - base < RACE_ROUND) {
            REQUIRE(++deadline_spins < UINT64_C(1) << 24); /* lost tasks: fail, do not hang */
            sched_yield();
        }
        ck_assert_uint_eq(atomic_load(&race_received) - base, RACE_ROUND);
        ck_assert_uint_eq(atomic_load(&race_duplicates), 0);
        for (unsigned i = 0; i < RACE_ROUND; i++) {
            REQUIRE(atomic_load_explicit(&race_seen[i], memory_order_relaxed) == 1);
            atomic_store_explicit(&race_seen[i], 0, memory_order_relaxed);
        }
    }
    atomic_store(&race_stop, 1);
    for (int i = 0; i < nthieves; i++)
        pthread_join(threads[i], NULL);
    /* The race was real: thieves did get work. */
    ck_assert_uint_gt(atomic_load(&race_stolen), 0);
    free(race_tasks);
}

START_TEST(an_owner_and_one_thief_receive_every_task_exactly_once)
{
    race(1, 128);
}
END_TEST

START_TEST(an_owner_and_three_thieves_receive_every_task_exactly_once)
{
    race(3, 64);
}
END_TEST

/* ---- runner ---------------------------------------------------------------- */

static Suite *deque_suite(void)
{
    Suite *s = suite_create("deque");
    ADD_TEST(s, take_returns_the_newest_task_first);
    ADD_TEST(s, steal_returns_the_oldest_task_first);
    ADD_TEST(s, take_and_steal_meet_in_the_middle_without_losing_a_task);
    ADD_TEST(s, len_counts_the_tasks_in_the_deque);
    ADD_TEST(s, indices_wrap_around_the_ring_many_times);
    ADD_TEST(s, pushing_past_capacity_returns_the_oldest_half_as_a_chain);
    ADD_TEST(s, steal_half_moves_about_half_into_the_thiefs_deque);
    ADD_TEST(s, steal_half_of_one_task_takes_it);
    ADD_TEST(s, steal_half_never_overflows_a_nearly_full_thief);
    ADD_TEST(s, an_owner_and_one_thief_receive_every_task_exactly_once);
    ADD_TEST(s, an_owner_and_three_thieves_receive_every_task_exactly_once);
    return s;
}

int main(void)
{
    return check_main(deque_suite, 120);
}
