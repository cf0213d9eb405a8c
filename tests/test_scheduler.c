/*
 * test_scheduler.c — the scheduler through the public API: spool_run's
 * result and life cycle, spawn and join, unjoined tasks, work spreading
 * over workers, fairness (a yielder or a ping-pong pair cannot starve
 * others), and an idle runtime that does not burn CPU.
 */
#include <check.h>
#include <fenv.h>
#include <errno.h>
#include <pthread.h>
#include <spool/spool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check_util.h"

/* ---- spool_run ------------------------------------------------------------ */

START_TEST(run_returns_mains_result)
{
    ck_assert_int_eq(run_on(1, return_arg, (void *)(intptr_t)42), 42);
    ck_assert_int_eq(run_on(2, return_arg, (void *)(intptr_t)-ENOENT), -ENOENT);
    ck_assert_int_eq(spool_run(return_arg, (void *)(intptr_t)7, NULL), 7);
}
END_TEST

static const unsigned worker_counts[] = {1, 2, 4};

static int sum_children(void *arg)
{
    unsigned want = (unsigned)(uintptr_t)arg;
    ck_assert_int_eq(spool_workers(), (int)want);
    enum { N = 100 };
    spool_task *t[N];
    int r[N];
    for (int i = 0; i < N; i++) {
        t[i] = spool_spawn(return_arg, (void *)(intptr_t)i);
        ck_assert_ptr_nonnull(t[i]);
    }
    ck_assert_int_eq(spool_gather(t, N, r), 0);
    int sum = 0;
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(r[i], i);
        sum += r[i];
    }
    return sum;
}

START_TEST(run_works_with_several_worker_counts)
{
    unsigned n = worker_counts[_i];
    ck_assert_int_eq(run_on(n, sum_children, (void *)(uintptr_t)n), 4950);
}
END_TEST

START_TEST(run_may_be_called_again_after_it_returns)
{
    for (unsigned i = 0; i < 20; i++) {
        unsigned n = 1 + i % 4;
        ck_assert_int_eq(run_on(n, sum_children, (void *)(uintptr_t)n), 4950);
    }
}
END_TEST

static void *run_in_thread(void *arg)
{
    intptr_t rc = run_on(2, sum_children, (void *)(uintptr_t)2);
    return (void *)rc;
}

START_TEST(run_works_from_a_thread_other_than_main)
{
    pthread_t th;
    void *rc;
    ck_assert_int_eq(pthread_create(&th, NULL, run_in_thread, NULL), 0);
    ck_assert_int_eq(pthread_join(th, &rc), 0);
    ck_assert_int_eq((intptr_t)rc, 4950);
}
END_TEST

START_TEST(two_runtimes_run_side_by_side_on_two_threads)
{
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, run_in_thread, NULL), 0);
    for (int i = 0; i < 2; i++) {
        void *rc;
        ck_assert_int_eq(pthread_join(th[i], &rc), 0);
        ck_assert_int_eq((intptr_t)rc, 4950);
    }
}
END_TEST

/* ---- spawn and join ------------------------------------------------------- */

static int join_child(void *arg)
{
    spool_task *t = spool_spawn(return_arg, (void *)(intptr_t)-EIO);
    ck_assert_ptr_nonnull(t);
    int r = spool_join(t);
    ck_assert_int_eq(r, -EIO);
    t = spool_spawn(return_arg, (void *)(intptr_t)1234);
    ck_assert_ptr_nonnull(t);
    return spool_join(t);
}

START_TEST(join_returns_the_spawned_tasks_result)
{
    ck_assert_int_eq(run_on(2, join_child, NULL), 1234);
}
END_TEST

static _Atomic int unjoined_done, sleeps_cancelled;

/* Sleeps far longer than any test run (a minute, plus arg seconds: the
 * timers differ), so only a cancellation can end the sleep in time;
 * counts the sleeps that ended with -ECANCELED. */
static int sleepy_leaf(void *arg)
{
    if (spool_sleep_ms(60000 + 1000 * (uint64_t)(uintptr_t)arg) == -ECANCELED)
        atomic_fetch_add(&sleeps_cancelled, 1);
    atomic_fetch_add(&unjoined_done, 1);
    return 0;
}

static int unjoined_parent(void *arg)
{
    /* Spawns a grandchild nobody joins either, then ends first. */
    ck_assert_ptr_nonnull(spool_spawn(sleepy_leaf, (void *)(uintptr_t)30));
    spool_yield();
    atomic_fetch_add(&unjoined_done, 1);
    return 0;
}

static int spawn_and_leave(void *arg)
{
    for (uintptr_t i = 0; i < 10; i++) {
        ck_assert_ptr_nonnull(spool_spawn(sleepy_leaf, (void *)i));
        ck_assert_ptr_nonnull(spool_spawn(unjoined_parent, NULL));
    }
    return 3; /* main ends at once */
}

START_TEST(tasks_never_joined_are_cancelled_and_run_to_completion_before_run_returns)
{
    /* When main returns, the tasks still running are cancelled (their
     * minute-long sleeps end with -ECANCELED), and spool_run returns only
     * after every one of them has finished. */
    for (unsigned w = 1; w <= 4; w *= 2) {
        atomic_store(&unjoined_done, 0);
        atomic_store(&sleeps_cancelled, 0);
        ck_assert_int_eq(run_on(w, spawn_and_leave, NULL), 3);
        ck_assert_int_eq(atomic_load(&unjoined_done), 30);
        ck_assert_int_eq(atomic_load(&sleeps_cancelled), 20);
    }
}
END_TEST

static int tree(void *arg)
{
    int depth = (int)(intptr_t)arg;
    if (depth == 0)
        return 1;
    spool_task *t[2];
    for (int i = 0; i < 2; i++) {
        t[i] = spool_spawn(tree, (void *)(intptr_t)(depth - 1));
        ck_assert_ptr_nonnull(t[i]);
    }
    int r[2];
    ck_assert_int_eq(spool_gather(t, 2, r), 0);
    return 1 + r[0] + r[1];
}

START_TEST(nested_spawns_build_a_whole_tree)
{
    unsigned n = worker_counts[_i];
    ck_assert_int_eq(run_on(n, tree, (void *)(intptr_t)12), (1 << 13) - 1);
}
END_TEST

/* ---- work spreads --------------------------------------------------------- */

enum { SPIN_TASKS = 8 };
/* Thread ids from gettid(): glibc declares pthread_self() const, and a
 * compiler may reuse its value across a switch to another thread. */
static pid_t spin_threads[SPIN_TASKS];

/* Set by the first spinner that runs on another thread than spinner 0's
 * first-seen thread; ends every spin. */
static _Atomic pid_t first_spin_thread;
static _Atomic int spread_seen;
/* Hang guard: when the spinning stops if no spinner ever ran elsewhere
 * (a scheduler that never steals), 20 s after the spawns. */
static uint64_t spin_deadline;

/* Records its thread, then computes (no wait point) until some spinner has
 * run on a second thread, or the guard passes. */
static int spin_until_spread(void *arg)
{
    int i = (int)(intptr_t)arg;
    pid_t me = gettid();
    spin_threads[i] = me;
    pid_t none = 0;
    if (!atomic_compare_exchange_strong(&first_spin_thread, &none, me) && none != me)
        atomic_store(&spread_seen, 1);
    volatile uint64_t x = 1;
    while (!atomic_load(&spread_seen) && spool_now_ns() < spin_deadline)
        x = x * 6364136223846793005u + 1442695040888963407u;
    return 0;
}

static int spawn_spinners(void *arg)
{
    spool_task *t[SPIN_TASKS];
    spin_deadline = spool_now_ns() + 20 * SPOOL_SEC; /* before the spawns publish it */
    for (int i = 0; i < SPIN_TASKS; i++)
        ck_assert_ptr_nonnull(t[i] = spool_spawn(spin_until_spread, (void *)(intptr_t)i));
    return spool_gather(t, SPIN_TASKS, NULL);
}

START_TEST(cpu_bound_tasks_spread_over_the_workers)
{
    /* The spinners never wait: only a second worker stealing from the
     * first lets one of them run on another thread. They spin until that
     * has happened, however long the other worker's thread stays off the
     * CPU (a loaded machine), with a hang guard far above it. */
    atomic_store(&first_spin_thread, 0);
    atomic_store(&spread_seen, 0);
    ck_assert_int_eq(run_on(2, spawn_spinners, NULL), 0);
    int distinct = 1;
    for (int i = 1; i < SPIN_TASKS; i++)
        if (spin_threads[i] != spin_threads[0])
            distinct = 2;
    ck_assert_int_ge(distinct, 2);
}
END_TEST

/* A parent that computes without waiting must not hold back the child it
 * just spawned: another worker steals it and runs it alongside. */
static _Atomic int child_ran;

static int set_child_ran(void *arg)
{
    atomic_store(&child_ran, 1);
    return 0;
}

static int spawn_then_compute(void *arg)
{
    atomic_store(&child_ran, 0);
    spool_task *c = spool_spawn(set_child_ran, NULL);
    ck_assert_ptr_nonnull(c);
    uint64_t t0 = spool_now_ns();
    /* No wait point in here: only a thief can run the child meanwhile. The
     * bound is a hang guard, far above the park safety net (1 s) and any
     * time a loaded machine keeps the other worker off the CPU, so even a
     * missed wake-up must be made good. */
    while (!atomic_load(&child_ran) && spool_now_ns() - t0 < 30 * SPOOL_SEC)
        ;
    int ran_alongside = atomic_load(&child_ran);
    spool_join(c);
    return ran_alongside;
}

START_TEST(a_spawned_child_runs_alongside_a_parent_that_computes)
{
    for (int round = 0; round < 20; round++)
        ck_assert_int_eq(run_on(2, spawn_then_compute, NULL), 1);
}
END_TEST

/* The floating-point control words are callee-saved in the ABI: a task
 * that sets a rounding mode keeps it across its waits, the other tasks on
 * the same worker never see it, and spool_run's caller gets its own back. */
static _Atomic int fp_phase;

static int upward_across_yields(void *arg)
{
    fesetround(FE_UPWARD);
    for (int i = 0; i < 50; i++) {
        atomic_fetch_add(&fp_phase, 1);
        spool_yield();
        if (fegetround() != FE_UPWARD)
            return -1;
    }
    return 0;
}

static int default_across_yields(void *arg)
{
    for (int i = 0; i < 50; i++) {
        spool_yield();
        if (fegetround() != FE_TONEAREST)
            return -2;
    }
    return 0;
}

static int rounding_modes_main(void *arg)
{
    spool_task *t[2];
    ck_assert_ptr_nonnull(t[0] = spool_spawn(upward_across_yields, NULL));
    ck_assert_ptr_nonnull(t[1] = spool_spawn(default_across_yields, NULL));
    int r[2];
    spool_gather(t, 2, r);
    ck_assert_int_eq(r[0], 0);
    ck_assert_int_eq(r[1], 0);
    return fegetround() == FE_TONEAREST ? 0 : -3;
}

START_TEST(a_tasks_rounding_mode_is_its_own)
{
    for (unsigned workers = 1; workers <= 2; workers++) {
        ck_assert_int_eq(fegetround(), FE_TONEAREST);
        ck_assert_int_eq(run_on(workers, rounding_modes_main, NULL), 0);
        ck_assert_int_eq(fegetround(), FE_TONEAREST); /* the caller's own */
    }
}
END_TEST

/* ---- fairness ------------------------------------------------------------- */

#define STARVE_LIMIT (10 * SPOOL_SEC)

static _Atomic int fair_counter;

static int yield_until_counted(void *arg)
{
    uint64_t t0 = spool_now_ns();
    while (atomic_load(&fair_counter) < 1000) {
        spool_yield();
        if (spool_now_ns() - t0 > STARVE_LIMIT)
            return -ETIMEDOUT;
    }
    return 0;
}

static int count_with_yields(void *arg)
{
    for (int i = 0; i < 1000; i++) {
        atomic_fetch_add(&fair_counter, 1);
        spool_yield();
    }
    return 0;
}

static int yield_fairness_main(void *arg)
{
    spool_task *t[2];
    ck_assert_ptr_nonnull(t[0] = spool_spawn(yield_until_counted, NULL));
    ck_assert_ptr_nonnull(t[1] = spool_spawn(count_with_yields, NULL));
    return spool_gather(t, 2, NULL);
}

START_TEST(a_task_yielding_in_a_loop_does_not_starve_another)
{
    ck_assert_int_eq(run_on(1, yield_fairness_main, NULL), 0);
    ck_assert_int_eq(atomic_load(&fair_counter), 1000);
}
END_TEST

/* Two tasks hand a token back and forth through two semaphores until a
 * flag is set; a third task must get to run and set it. */
struct pingpong {
    spool_sem a, b;
    _Atomic int stop;
    _Atomic int starved;
    _Atomic uint64_t rounds;
};

static int ping(void *arg)
{
    struct pingpong *p = arg;
    uint64_t t0 = spool_now_ns();
    for (uint64_t n = 0;; n++) {
        spool_sem_acquire(&p->a);
        if ((n & 1023) == 0 && spool_now_ns() - t0 > STARVE_LIMIT) {
            atomic_store(&p->starved, 1); /* fail, do not hang */
            atomic_store(&p->stop, 1);
        }
        if (atomic_load(&p->stop)) {
            spool_sem_release(&p->b);
            return 0;
        }
        atomic_fetch_add_explicit(&p->rounds, 1, memory_order_relaxed);
        spool_sem_release(&p->b);
    }
}

static int pong(void *arg)
{
    struct pingpong *p = arg;
    for (;;) {
        spool_sem_acquire(&p->b);
        if (atomic_load(&p->stop)) {
            spool_sem_release(&p->a);
            return 0;
        }
        spool_sem_release(&p->a);
    }
}

static int stop_after_yields(void *arg)
{
    struct pingpong *p = arg;
    for (int i = 0; i < 100; i++)
        spool_yield();
    atomic_store(&p->stop, 1);
    return 0;
}

static int pingpong_main(void *arg)
{
    int mode = (int)(intptr_t)arg;
    struct pingpong *p = calloc(1, sizeof *p);
    ck_assert_ptr_nonnull(p);
    spool_sem_init(&p->a, 1);
    spool_sem_init(&p->b, 0);
    spool_task *t[3];
    int n = 0;
    ck_assert_ptr_nonnull(t[n++] = spool_spawn(ping, p));
    ck_assert_ptr_nonnull(t[n++] = spool_spawn(pong, p));
    if (mode == 0) {
        /* main itself is the third task: it wakes from a timer. */
        spool_sleep_ms(20);
        atomic_store(&p->stop, 1);
    } else {
        /* a third task that only yields */
        ck_assert_ptr_nonnull(t[n++] = spool_spawn(stop_after_yields, p));
    }
    int rc = spool_gather(t, (size_t)n, NULL);
    int starved = atomic_load(&p->starved);
    if (spool_workers() == 1) /* the pair did play (on more workers, maybe not yet) */
        ck_assert_uint_gt(atomic_load(&p->rounds), 0);
    free(p);
    return rc ? rc : starved;
}

START_TEST(a_ping_pong_pair_does_not_starve_a_sleeper)
{
    ck_assert_int_eq(run_on(1, pingpong_main, (void *)(intptr_t)0), 0);
}
END_TEST

START_TEST(a_ping_pong_pair_does_not_starve_a_yielding_task)
{
    ck_assert_int_eq(run_on(1, pingpong_main, (void *)(intptr_t)1), 0);
}
END_TEST

START_TEST(a_ping_pong_pair_on_two_workers_does_not_starve_others)
{
    ck_assert_int_eq(run_on(2, pingpong_main, (void *)(intptr_t)0), 0);
    ck_assert_int_eq(run_on(2, pingpong_main, (void *)(intptr_t)1), 0);
}
END_TEST

/* ---- introspection -------------------------------------------------------- */

static int report_workers(void *arg)
{
    return spool_workers();
}

static int report_workers_from_child(void *arg)
{
    spool_task *t = spool_spawn(report_workers, NULL);
    ck_assert_ptr_nonnull(t);
    return spool_join(t);
}

START_TEST(spool_workers_reports_the_worker_count)
{
    ck_assert_int_eq(run_on(3, report_workers, NULL), 3);
    ck_assert_int_eq(run_on(1, report_workers_from_child, NULL), 1);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus > (long)SPOOL_MAX_WORKERS)
        cpus = SPOOL_MAX_WORKERS;
    ck_assert_int_eq(run_on(0, report_workers, NULL), (int)cpus);
    ck_assert_int_eq(spool_workers(), -EPERM);
}
END_TEST

static void *in_task_from_thread(void *arg)
{
    return (void *)(intptr_t)spool_in_task();
}

static int check_in_task(void *arg)
{
    ck_assert_int_eq(spool_in_task(), 1);
    /* A plain thread started from a task is not in a task. */
    pthread_t th;
    void *r;
    ck_assert_int_eq(pthread_create(&th, NULL, in_task_from_thread, NULL), 0);
    pthread_join(th, &r);
    ck_assert_int_eq((intptr_t)r, 0);
    spool_yield();
    ck_assert_int_eq(spool_in_task(), 1);
    return 5;
}

static int check_in_task_children(void *arg)
{
    spool_task *t[8];
    for (int i = 0; i < 8; i++)
        ck_assert_ptr_nonnull(t[i] = spool_spawn(check_in_task, NULL));
    int r[8];
    ck_assert_int_eq(spool_gather(t, 8, r), 0);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(r[i], 5);
    return check_in_task(NULL);
}

START_TEST(spool_in_task_is_1_inside_a_task_and_0_outside)
{
    ck_assert_int_eq(spool_in_task(), 0);
    ck_assert_int_eq(run_on(2, check_in_task_children, NULL), 5);
    ck_assert_int_eq(spool_in_task(), 0);
}
END_TEST

/* ---- idling --------------------------------------------------------------- */

static uint64_t cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * SPOOL_SEC +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * SPOOL_USEC;
}

static int sleep_300ms(void *arg)
{
    return spool_sleep_ms(300);
}

START_TEST(an_idle_runtime_uses_almost_no_cpu)
{
    /* A spinning worker would burn ~600 ms of CPU here (2 workers). */
    uint64_t limit = SANITIZED ? 250 * SPOOL_MSEC : 50 * SPOOL_MSEC;
    uint64_t c0 = cpu_ns(), t0 = spool_now_ns();
    ck_assert_int_eq(run_on(2, sleep_300ms, NULL), 0);
    uint64_t used = cpu_ns() - c0;
    ck_assert_uint_ge(spool_now_ns() - t0, 300 * SPOOL_MSEC);
    ck_assert_msg(used < limit, "idle runtime used %llu ms of CPU in 300 ms",
                  (unsigned long long)(used / SPOOL_MSEC));
}
END_TEST

/* ---- runner ---------------------------------------------------------------- */

static Suite *scheduler_suite(void)
{
    Suite *s = suite_create("scheduler");
    ADD_TEST(s, run_returns_mains_result);
    ADD_LOOP_TEST(s, run_works_with_several_worker_counts, 3);
    ADD_TEST(s, run_may_be_called_again_after_it_returns);
    ADD_TEST(s, run_works_from_a_thread_other_than_main);
    ADD_TEST(s, two_runtimes_run_side_by_side_on_two_threads);
    ADD_TEST(s, join_returns_the_spawned_tasks_result);
    ADD_TEST(s, tasks_never_joined_are_cancelled_and_run_to_completion_before_run_returns);
    ADD_LOOP_TEST(s, nested_spawns_build_a_whole_tree, 3);
    ADD_TEST(s, cpu_bound_tasks_spread_over_the_workers);
    ADD_TEST(s, a_spawned_child_runs_alongside_a_parent_that_computes);
    ADD_TEST(s, a_tasks_rounding_mode_is_its_own);
    ADD_TEST(s, a_task_yielding_in_a_loop_does_not_starve_another);
    ADD_TEST(s, a_ping_pong_pair_does_not_starve_a_sleeper);
    ADD_TEST(s, a_ping_pong_pair_does_not_starve_a_yielding_task);
    ADD_TEST(s, a_ping_pong_pair_on_two_workers_does_not_starve_others);
    ADD_TEST(s, spool_workers_reports_the_worker_count);
    ADD_TEST(s, spool_in_task_is_1_inside_a_task_and_0_outside);
    ADD_TEST(s, an_idle_runtime_uses_almost_no_cpu);
    return s;
}

int main(void)
{
    return check_main(scheduler_suite, 120);
}
