/*
 * test_stress.c — lost-wake-up and shutdown-race hunters (ctest label
 * "stress"). Each test repeats a pattern that parks and wakes workers many
 * times and checks an exact result; a lost wake-up shows up as a hang,
 * which the watchdog turns into an abort with a message (and check's
 * timeout backs it up).
 *
 * Sizes: each test runs a few seconds in the plain build. Environment:
 * SPOOL_STRESS_SCALE (default 1) multiplies every size; under ASan or TSan
 * sizes are divided by 10 on top, so the sanitizer runs stay short.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <spool/spool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "check_util.h"

static double stress_scale(void)
{
    const char *s = getenv("SPOOL_STRESS_SCALE");
    double f = s && *s ? atof(s) : 1.0;
    if (!(f > 0))
        f = 1.0;
    if (SANITIZED)
        f /= 10;
    return f;
}

/* n scaled, at least 1. */
static unsigned scaled(unsigned n)
{
    double v = n * stress_scale();
    return v < 1 ? 1 : (unsigned)v;
}

/* ---- watchdog ------------------------------------------------------------------ */

/* Tests bump `progress` as they go; if it stands still for too long, the
 * watchdog says where and aborts (check reports the signal). */
static _Atomic uint64_t progress;
static const char *watched;

static void *watchdog(void *arg)
{
    unsigned limit_s = SANITIZED ? 120 : 30;
    uint64_t last = atomic_load(&progress);
    unsigned still = 0;
    for (;;) {
        sleep(1);
        uint64_t now = atomic_load(&progress);
        if (now != last) {
            last = now;
            still = 0;
        } else if (++still >= limit_s) {
            fprintf(stderr, "stress: %s made no progress for %u s (at step %llu): lost wake-up?\n",
                    watched, limit_s, (unsigned long long)now);
            abort();
        }
    }
    return NULL;
}

static void start_watchdog(const char *name)
{
    watched = name;
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, watchdog, NULL), 0);
    pthread_detach(th);
}

static void tick(void)
{
    atomic_fetch_add_explicit(&progress, 1, memory_order_relaxed);
}

/* ---- (a) wake parked workers, over and over ------------------------------------- */

struct pingpong {
    spool_sem a, b;
    unsigned n;
    uint64_t seed;
    _Atomic unsigned pings, pongs;
};

static int ping(void *arg)
{
    struct pingpong *p = arg;
    uint64_t rng = p->seed;
    spool_sleep_ns(xorshift(&rng) % SPOOL_MSEC);
    for (unsigned i = 0; i < p->n; i++) {
        if (spool_sem_acquire(&p->a))
            return -1;
        atomic_fetch_add_explicit(&p->pings, 1, memory_order_relaxed);
        if (xorshift(&rng) % 4 == 0)
            spool_sleep_ns(xorshift(&rng) % (200 * SPOOL_USEC));
        if (spool_sem_release(&p->b))
            return -2;
    }
    return 0;
}

static int pong(void *arg)
{
    struct pingpong *p = arg;
    uint64_t rng = p->seed ^ 0xABCDEF;
    spool_sleep_ns(xorshift(&rng) % SPOOL_MSEC);
    for (unsigned i = 0; i < p->n; i++) {
        if (spool_sem_acquire(&p->b))
            return -3;
        atomic_fetch_add_explicit(&p->pongs, 1, memory_order_relaxed);
        if (xorshift(&rng) % 8 == 0)
            spool_yield();
        if (spool_sem_release(&p->a))
            return -4;
    }
    return 0;
}

static int wakeup_main(void *arg)
{
    unsigned rounds = (unsigned)(uintptr_t)arg;
    uint64_t rng = 0x1234567 + (uint64_t)spool_workers();
    for (unsigned r = 0; r < rounds; r++) {
        /* Let every other worker run dry and park. */
        spool_sleep_ms(1);
        struct pingpong p = {.n = 1 + (unsigned)(xorshift(&rng) % 8), .seed = xorshift(&rng) | 1};
        spool_sem_init(&p.a, 1);
        spool_sem_init(&p.b, 0);
        spool_task *t[2];
        REQUIRE((t[0] = spool_spawn(ping, &p)) != NULL);
        REQUIRE((t[1] = spool_spawn(pong, &p)) != NULL);
        int res[2];
        REQUIRE(spool_gather(t, 2, res) == 0);
        REQUIRE(atomic_load(&p.pings) == p.n && atomic_load(&p.pongs) == p.n);
        /* a is back to its one permit, b to none */
        REQUIRE(spool_sem_try_acquire(&p.a) == 0);
        REQUIRE(spool_sem_try_acquire(&p.a) == -EAGAIN);
        REQUIRE(spool_sem_try_acquire(&p.b) == -EAGAIN);
        tick();
    }
    return 0;
}

static const unsigned wake_workers[] = {2, 4};

START_TEST(spawns_and_wakes_always_reach_parked_workers)
{
    start_watchdog("spawns_and_wakes_always_reach_parked_workers");
    unsigned rounds = scaled(1500);
    ck_assert_int_eq(run_on(wake_workers[_i], wakeup_main, (void *)(uintptr_t)rounds), 0);
}
END_TEST

/* ---- (b) a semaphore of one handed across workers ------------------------------- */

static spool_sem mutex_sem;
static long guarded_counter; /* plain on purpose: only the permit protects it */
static unsigned ops_per_task;

static int mutex_worker(void *arg)
{
    for (unsigned i = 0; i < ops_per_task; i++) {
        if (spool_sem_acquire(&mutex_sem))
            return -1;
        long v = guarded_counter;
        if (i % 2 == 0)
            spool_yield(); /* hold the permit across a switch, maybe a migration */
        guarded_counter = v + 1;
        if (spool_sem_release(&mutex_sem))
            return -2;
        if ((i & 255) == 0)
            tick();
    }
    return 0;
}

static int mutex_main(void *arg)
{
    enum { TASKS = 64 };
    spool_task *t[TASKS];
    for (int i = 0; i < TASKS; i++)
        REQUIRE((t[i] = spool_spawn(mutex_worker, NULL)) != NULL);
    return spool_gather(t, TASKS, NULL);
}

START_TEST(a_semaphore_of_one_excludes_across_four_workers)
{
    start_watchdog("a_semaphore_of_one_excludes_across_four_workers");
    /* 200,000 operations per runtime, over and over. */
    ops_per_task = SANITIZED ? 200000 / 64 / 10 : 200000 / 64;
    unsigned runs = scaled(20);
    for (unsigned r = 0; r < runs; r++) {
        spool_sem_init(&mutex_sem, 1);
        guarded_counter = 0;
        ck_assert_int_eq(run_on(4, mutex_main, NULL), 0);
        ck_assert_int_eq(guarded_counter, (long)ops_per_task * 64);
        ck_assert_int_eq(spool_sem_try_acquire(&mutex_sem), 0);
        ck_assert_int_eq(spool_sem_try_acquire(&mutex_sem), -EAGAIN);
    }
}
END_TEST

/* ---- (c) many short runtimes ------------------------------------------------------ */

static _Atomic int orphans_done;

static int orphan(void *arg)
{
    spool_yield();
    atomic_fetch_add(&orphans_done, 1);
    return 0;
}

static int short_task(void *arg)
{
    unsigned i = (unsigned)(uintptr_t)arg;
    switch (i % 5) {
    case 0:
        break;
    case 1:
        spool_yield();
        break;
    case 2:
        spool_sleep_ns((i * 7919u) % (100 * SPOOL_USEC));
        break;
    case 3:
        spool_sleep_ns(0);
        break;
    case 4:
        /* Leave a task behind: the runtime must wait for it too. */
        if (!spool_spawn(orphan, NULL))
            return -ENOMEM;
        break;
    }
    return (int)i;
}

static int short_run_main(void *arg)
{
    enum { N = 100 };
    spool_task *t[N];
    int r[N];
    for (unsigned i = 0; i < N; i++)
        REQUIRE((t[i] = spool_spawn(short_task, (void *)(uintptr_t)i)) != NULL);
    if (spool_gather(t, N, r))
        return -1;
    int sum = 0;
    for (int i = 0; i < N; i++)
        sum += r[i];
    return sum;
}

START_TEST(many_short_runtimes_start_and_shut_down_cleanly)
{
    start_watchdog("many_short_runtimes_start_and_shut_down_cleanly");
    unsigned runs = scaled(2000);
    atomic_store(&orphans_done, 0);
    for (unsigned i = 0; i < runs; i++) {
        int rc = run_on(2 + i % 3, short_run_main, NULL);
        REQUIRE(rc == 4950);
        REQUIRE(atomic_load(&orphans_done) == (int)(i + 1) * 20);
        tick();
    }
}
END_TEST

/* ---- (d) fork-join fib ------------------------------------------------------------ */

static int fib(void *arg)
{
    int n = (int)(intptr_t)arg;
    if (n < 2)
        return n;
    spool_task *a = spool_spawn(fib, (void *)(intptr_t)(n - 1));
    spool_task *b = spool_spawn(fib, (void *)(intptr_t)(n - 2));
    if (!a || !b)
        return -ENOMEM;
    spool_task *t[2] = {a, b};
    int r[2];
    int rc = spool_gather(t, 2, r);
    return rc ? rc : r[0] + r[1];
}

static int fib_main(void *arg)
{
    unsigned reps = (unsigned)(uintptr_t)arg;
    for (unsigned i = 0; i < reps; i++) {
        spool_task *t = spool_spawn(fib, (void *)(intptr_t)18);
        REQUIRE(t != NULL);
        REQUIRE(spool_join(t) == 2584);
        tick();
    }
    return 0;
}

START_TEST(fork_join_fib_on_four_workers_is_always_right)
{
    start_watchdog("fork_join_fib_on_four_workers_is_always_right");
    unsigned runs = scaled(50);
    for (unsigned i = 0; i < runs; i++)
        ck_assert_int_eq(run_on(4, fib_main, (void *)(uintptr_t)20), 0);
}
END_TEST

/* ---- runner ---------------------------------------------------------------- */

static Suite *stress_suite(void)
{
    Suite *s = suite_create("stress");
    ADD_LOOP_TEST(s, spawns_and_wakes_always_reach_parked_workers, 2);
    ADD_TEST(s, a_semaphore_of_one_excludes_across_four_workers);
    ADD_TEST(s, many_short_runtimes_start_and_shut_down_cleanly);
    ADD_TEST(s, fork_join_fib_on_four_workers_is_always_right);
    return s;
}

int main(void)
{
    return check_main(stress_suite, 300);
}
