/*
 * test_sem.c — the counting semaphore (sync/sem.c) through the API:
 * permits, the static initialiser, -EAGAIN / -EOVERFLOW, FIFO hand-off
 * with no barging, the asyncio seed's Semaphore(2) example, and thousands
 * of tasks on several workers never exceeding the permit count.
 */
#include <check.h>
#include <errno.h>
#include <spool/spool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "check_util.h"

/* Counts holders inside a critical section and remembers the most seen. */
typedef struct holders {
    _Atomic int now;
    _Atomic int max;
    _Atomic uint64_t entries;
} holders;

static void enter(holders *h)
{
    int n = atomic_fetch_add(&h->now, 1) + 1;
    int m = atomic_load(&h->max);
    while (n > m && !atomic_compare_exchange_weak(&h->max, &m, n))
        ;
    atomic_fetch_add_explicit(&h->entries, 1, memory_order_relaxed);
}

static void leave(holders *h)
{
    atomic_fetch_sub(&h->now, 1);
}

/* ---- basics ---------------------------------------------------------------- */

static spool_sem static_sem = SPOOL_SEM_INIT(2);

START_TEST(the_static_initializer_gives_the_permits)
{
    ck_assert_int_eq(spool_sem_try_acquire(&static_sem), 0);
    ck_assert_int_eq(spool_sem_try_acquire(&static_sem), 0);
    ck_assert_int_eq(spool_sem_try_acquire(&static_sem), -EAGAIN);
    spool_sem local = SPOOL_SEM_INIT(0);
    ck_assert_int_eq(spool_sem_try_acquire(&local), -EAGAIN);
}
END_TEST

START_TEST(try_acquire_takes_permits_until_none_is_left)
{
    spool_sem s;
    ck_assert_int_eq(spool_sem_init(&s, 3), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(spool_sem_try_acquire(&s), 0);
    ck_assert_int_eq(spool_sem_try_acquire(&s), -EAGAIN);
    ck_assert_int_eq(spool_sem_try_acquire(&s), -EAGAIN);
    ck_assert_int_eq(spool_sem_init(&s, 0), 0);
    ck_assert_int_eq(spool_sem_try_acquire(&s), -EAGAIN);
}
END_TEST

static int release_and_reacquire(void *arg)
{
    spool_sem s;
    spool_sem_init(&s, 0);
    ck_assert_int_eq(spool_sem_release(&s), 0);
    ck_assert_int_eq(spool_sem_release(&s), 0);
    ck_assert_int_eq(spool_sem_try_acquire(&s), 0);
    ck_assert_int_eq(spool_sem_acquire(&s), 0); /* free permit: no wait */
    ck_assert_int_eq(spool_sem_try_acquire(&s), -EAGAIN);
    return 0;
}

START_TEST(release_returns_a_permit_that_acquire_takes)
{
    ck_assert_int_eq(run_on(1, release_and_reacquire, NULL), 0);
}
END_TEST

static int overflow(void *arg)
{
    spool_sem s;
    ck_assert_int_eq(spool_sem_init(&s, (unsigned)SPOOL_SEM_MAX), 0);
    ck_assert_int_eq(spool_sem_release(&s), -EOVERFLOW);
    /* Nothing changed: one permit out, one back, then full again. */
    ck_assert_int_eq(spool_sem_try_acquire(&s), 0);
    ck_assert_int_eq(spool_sem_release(&s), 0);
    ck_assert_int_eq(spool_sem_release(&s), -EOVERFLOW);
    spool_sem t = SPOOL_SEM_INIT(SPOOL_SEM_MAX);
    ck_assert_int_eq(spool_sem_release(&t), -EOVERFLOW);
    return 0;
}

START_TEST(release_past_the_maximum_returns_eoverflow)
{
    ck_assert_int_eq(run_on(1, overflow, NULL), 0);
}
END_TEST

/* ---- FIFO and no barging ----------------------------------------------------- */

struct fifo {
    spool_sem sem;
    _Atomic int started[3];
    _Atomic int got[3];
};

struct fifo_arg {
    struct fifo *f;
    int id;
};

static int fifo_waiter(void *arg)
{
    struct fifo_arg *a = arg;
    atomic_store(&a->f->started[a->id], 1);
    ck_assert_int_eq(spool_sem_acquire(&a->f->sem), 0);
    atomic_store(&a->f->got[a->id], 1);
    return 0;
}

static int got_count(struct fifo *f)
{
    return atomic_load(&f->got[0]) + atomic_load(&f->got[1]) + atomic_load(&f->got[2]);
}

static int fifo_main(void *arg)
{
    struct fifo f = {.sem = SPOOL_SEM_INIT(0)};
    struct fifo_arg a[3];
    spool_task *t[3];
    /* A, B, C block in that order: on one worker, a task that has started
     * ran until it blocked. */
    for (int i = 0; i < 3; i++) {
        a[i] = (struct fifo_arg){&f, i};
        ck_assert_ptr_nonnull(t[i] = spool_spawn(fifo_waiter, &a[i]));
        while (!atomic_load(&f.started[i]))
            spool_yield();
    }
    ck_assert_int_eq(got_count(&f), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(spool_sem_release(&f.sem), 0);
        for (int spins = 0; got_count(&f) < i + 1 && spins < 1000; spins++)
            spool_yield();
        ck_assert_int_eq(got_count(&f), i + 1);
        ck_assert_msg(atomic_load(&f.got[i]), "permit %d went to another waiter than #%d", i, i);
    }
    return spool_gather(t, 3, NULL);
}

START_TEST(waiters_get_permits_in_the_order_they_blocked)
{
    ck_assert_int_eq(run_on(1, fifo_main, NULL), 0);
}
END_TEST

static int barging_main(void *arg)
{
    struct fifo f = {.sem = SPOOL_SEM_INIT(0)};
    struct fifo_arg a = {&f, 0};
    spool_task *t = spool_spawn(fifo_waiter, &a);
    ck_assert_ptr_nonnull(t);
    while (!atomic_load(&f.started[0]))
        spool_yield();
    ck_assert_int_eq(spool_sem_release(&f.sem), 0);
    /* The permit is the waiter's now, though it has not run yet. */
    ck_assert_int_eq(atomic_load(&f.got[0]), 0);
    ck_assert_int_eq(spool_sem_try_acquire(&f.sem), -EAGAIN);
    ck_assert_int_eq(spool_join(t), 0);
    ck_assert_int_eq(atomic_load(&f.got[0]), 1);
    ck_assert_int_eq(spool_sem_try_acquire(&f.sem), -EAGAIN); /* it kept it */
    return 0;
}

START_TEST(a_newcomer_cannot_barge_past_a_waiter)
{
    ck_assert_int_eq(run_on(1, barging_main, NULL), 0);
}
END_TEST

/* ---- the seed's Semaphore(2) example ----------------------------------------- */

static spool_sem seed_sem;
static holders seed_holders;

static int hold_100ms(void *arg)
{
    ck_assert_int_eq(spool_sem_acquire(&seed_sem), 0);
    enter(&seed_holders);
    spool_sleep_ms(100);
    leave(&seed_holders);
    return spool_sem_release(&seed_sem);
}

static int seed_main(void *arg)
{
    spool_task *t[4];
    for (int i = 0; i < 4; i++)
        ck_assert_ptr_nonnull(t[i] = spool_spawn(hold_100ms, NULL));
    return spool_gather(t, 4, NULL);
}

static const unsigned seed_workers[] = {1, 2, 0};

START_TEST(a_semaphore_of_two_runs_four_100ms_holders_in_about_200ms)
{
    spool_sem_init(&seed_sem, 2);
    uint64_t t0 = spool_now_ns();
    ck_assert_int_eq(run_on(seed_workers[_i], seed_main, NULL), 0);
    uint64_t took = spool_now_ns() - t0;
    ck_assert_uint_ge(took, 200 * SPOOL_MSEC);
    ck_assert_uint_lt(took, HANG_GUARD_NS);
    ck_assert_int_eq(atomic_load(&seed_holders.max), 2);
    ck_assert_uint_eq(atomic_load(&seed_holders.entries), 4);
    ck_assert_int_eq(spool_sem_try_acquire(&seed_sem), 0);
    ck_assert_int_eq(spool_sem_try_acquire(&seed_sem), 0);
    ck_assert_int_eq(spool_sem_try_acquire(&seed_sem), -EAGAIN);
}
END_TEST

/* ---- many tasks, several workers ---------------------------------------------- */

#define STRESS_PERMITS 3
#define STRESS_ROUNDS 20

static spool_sem stress_sem;
static holders stress_holders;

static int acquire_release_many(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < STRESS_ROUNDS; i++) {
        if (spool_sem_acquire(&stress_sem) != 0)
            return -1;
        enter(&stress_holders);
        if ((id + (unsigned)i) % 3 == 0)
            spool_yield(); /* hold it across a switch now and then */
        leave(&stress_holders);
        if (spool_sem_release(&stress_sem) != 0)
            return -2;
    }
    return 0;
}

static int stress_main(void *arg)
{
    unsigned n = (unsigned)(uintptr_t)arg;
    spool_task **t = calloc(n, sizeof *t);
    ck_assert_ptr_nonnull(t);
    for (unsigned i = 0; i < n; i++)
        REQUIRE((t[i] = spool_spawn(acquire_release_many, (void *)(uintptr_t)i)) != NULL);
    int rc = spool_gather(t, n, NULL);
    free(t);
    return rc;
}

static const unsigned stress_workers[] = {2, 4};

START_TEST(thousands_of_tasks_never_exceed_the_permits)
{
    unsigned n = SANITIZED ? 1000 : 5000;
    spool_sem_init(&stress_sem, STRESS_PERMITS);
    ck_assert_int_eq(run_on(stress_workers[_i], stress_main, (void *)(uintptr_t)n), 0);
    ck_assert_int_le(atomic_load(&stress_holders.max), STRESS_PERMITS);
    ck_assert_int_ge(atomic_load(&stress_holders.max), 1);
    ck_assert_uint_eq(atomic_load(&stress_holders.entries), (uint64_t)n * STRESS_ROUNDS);
    /* Every permit came back. */
    for (int i = 0; i < STRESS_PERMITS; i++)
        ck_assert_int_eq(spool_sem_try_acquire(&stress_sem), 0);
    ck_assert_int_eq(spool_sem_try_acquire(&stress_sem), -EAGAIN);
}
END_TEST

/* Waiters block first; releases come from tasks spawned by another task,
 * on whatever workers they land. */
enum { HANDOFF = 200 };
static spool_sem handoff_sem;
static _Atomic int handoff_got;

static int handoff_waiter(void *arg)
{
    ck_assert_int_eq(spool_sem_acquire(&handoff_sem), 0);
    atomic_fetch_add(&handoff_got, 1);
    return 0;
}

static int handoff_releaser(void *arg)
{
    unsigned i = (unsigned)(uintptr_t)arg;
    if (i % 4 == 0)
        spool_sleep_ms(1);
    else if (i % 4 == 1)
        spool_yield();
    return spool_sem_release(&handoff_sem);
}

static int spawn_releasers(void *arg)
{
    spool_task *t[HANDOFF];
    for (unsigned i = 0; i < HANDOFF; i++)
        ck_assert_ptr_nonnull(t[i] = spool_spawn(handoff_releaser, (void *)(uintptr_t)i));
    return spool_gather(t, HANDOFF, NULL);
}

static int handoff_main(void *arg)
{
    spool_task *w[HANDOFF];
    for (unsigned i = 0; i < HANDOFF; i++)
        ck_assert_ptr_nonnull(w[i] = spool_spawn(handoff_waiter, NULL));
    spool_sleep_ms(10); /* most of them are blocked by now */
    spool_task *r = spool_spawn(spawn_releasers, NULL);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(spool_join(r), 0);
    ck_assert_int_eq(spool_gather(w, HANDOFF, NULL), 0);
    ck_assert_int_eq(atomic_load(&handoff_got), HANDOFF);
    /* Each release went to exactly one acquire: none left over. */
    ck_assert_int_eq(spool_sem_try_acquire(&handoff_sem), -EAGAIN);
    return 0;
}

START_TEST(releases_from_other_workers_wake_every_waiter)
{
    for (int round = 0; round < 5; round++) {
        spool_sem_init(&handoff_sem, 0);
        atomic_store(&handoff_got, 0);
        ck_assert_int_eq(run_on(4, handoff_main, NULL), 0);
    }
}
END_TEST

static spool_sem timed_sem;

static int release_after_sleep(void *arg)
{
    spool_sleep_ms(20);
    return spool_sem_release(&timed_sem);
}

static int wait_for_timed_release(void *arg)
{
    spool_sem_init(&timed_sem, 0);
    uint64_t t0 = spool_now_ns();
    spool_task *t = spool_spawn(release_after_sleep, NULL);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(spool_sem_acquire(&timed_sem), 0);
    ck_assert_uint_ge(spool_now_ns() - t0, 20 * SPOOL_MSEC);
    return spool_join(t);
}

START_TEST(a_blocked_acquire_returns_once_a_permit_is_released)
{
    ck_assert_int_eq(run_on(1, wait_for_timed_release, NULL), 0);
    ck_assert_int_eq(run_on(2, wait_for_timed_release, NULL), 0);
}
END_TEST

/* ---- runner ---------------------------------------------------------------- */

static Suite *sem_suite(void)
{
    Suite *s = suite_create("sem");
    ADD_TEST(s, the_static_initializer_gives_the_permits);
    ADD_TEST(s, try_acquire_takes_permits_until_none_is_left);
    ADD_TEST(s, release_returns_a_permit_that_acquire_takes);
    ADD_TEST(s, release_past_the_maximum_returns_eoverflow);
    ADD_TEST(s, waiters_get_permits_in_the_order_they_blocked);
    ADD_TEST(s, a_newcomer_cannot_barge_past_a_waiter);
    ADD_LOOP_TEST(s, a_semaphore_of_two_runs_four_100ms_holders_in_about_200ms, 3);
    ADD_LOOP_TEST(s, thousands_of_tasks_never_exceed_the_permits, 2);
    ADD_TEST(s, releases_from_other_workers_wake_every_waiter);
    ADD_TEST(s, a_blocked_acquire_returns_once_a_permit_is_released);
    return s;
}

int main(void)
{
    return check_main(sem_suite, 120);
}
