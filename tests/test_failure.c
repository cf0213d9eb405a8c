/*
 * test_failure.c — running out of resources gives a clear error and the
 * runtime keeps running: a failed io_uring set-up (spool_run fails, main
 * never runs), no memory for task records (spool_spawn returns NULL and
 * the function never runs), for a stack (that task ends with -ENOMEM, the
 * others are unaffected), or for a timer slot (the sleep returns -ENOMEM).
 * Failures are injected with the runtime's fail points (failpoint.h).
 */
#include <check.h>
#include <errno.h>
#include <spool/spool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "failpoint.h"

#include "check_util.h"

static _Atomic int runs;

static int count_run(void *arg)
{
    atomic_fetch_add(&runs, 1);
    return (int)(intptr_t)arg;
}

static void disarm_all(void)
{
    for (int fp = 0; fp < SPOOL__FAIL_KINDS; fp++)
        spool__failpoint_arm((spool__failpoint)fp, 0);
    atomic_store(&runs, 0);
}

/* ---- io_uring set-up ----------------------------------------------------------- */

START_TEST(a_failed_ring_setup_fails_spool_run_and_main_never_runs)
{
    disarm_all();
    spool__failpoint_arm(SPOOL__FAIL_RING, 1);
    ck_assert_int_eq(run_on(1, count_run, (void *)7), -ENOMEM);
    ck_assert_int_eq(atomic_load(&runs), 0);
    /* Nothing is left broken: the next run works. */
    ck_assert_int_eq(run_on(1, count_run, (void *)7), 7);
    ck_assert_int_eq(atomic_load(&runs), 1);
}
END_TEST

START_TEST(a_failed_ring_setup_on_another_worker_stops_every_worker)
{
    disarm_all();
    for (long nth = 1; nth <= 4; nth++) {
        spool__failpoint_arm(SPOOL__FAIL_RING, nth);
        ck_assert_int_eq(run_on(4, count_run, (void *)3), -ENOMEM);
        ck_assert_int_eq(atomic_load(&runs), 0);
    }
    spool__failpoint_arm(SPOOL__FAIL_RING, 0);
    ck_assert_int_eq(run_on(4, count_run, (void *)3), 3);
}
END_TEST

/* ---- task records -------------------------------------------------------------- */

#define SPAWN_TRIES 200

static int spawn_until_null(void *arg)
{
    spool_task *t[SPAWN_TRIES];
    int ok = 0, failed_at = -1;
    for (int i = 0; i < SPAWN_TRIES; i++) {
        t[ok] = spool_spawn(count_run, (void *)1);
        if (t[ok])
            ok++;
        else if (failed_at < 0)
            failed_at = i;
    }
    int results[SPAWN_TRIES];
    ck_assert_int_eq(spool_gather(t, (size_t)ok, results), 0);
    for (int i = 0; i < ok; i++)
        ck_assert_int_eq(results[i], 1);
    /* Exactly one spawn failed, and only its function never ran. */
    ck_assert_int_ge(failed_at, 0);
    ck_assert_int_eq(ok, SPAWN_TRIES - 1);
    ck_assert_int_eq(atomic_load(&runs), ok);
    /* The runtime goes on spawning. */
    spool_task *again = spool_spawn(count_run, (void *)5);
    ck_assert_ptr_nonnull(again);
    ck_assert_int_eq(spool_join(again), 5);
    return 0;
}

START_TEST(spawn_returns_null_when_records_run_out_and_the_function_never_runs)
{
    disarm_all();
    /* The 1st slab check is main's record; the 2nd is a later spawn's. */
    spool__failpoint_arm(SPOOL__FAIL_TASK_SLAB, 2);
    ck_assert_int_eq(run_on(1, spawn_until_null, NULL), 0);
}
END_TEST

/* ---- stacks -------------------------------------------------------------------- */

#define BLOCKERS 300 /* more than one arena chunk of stacks */

static spool_sem gate;
static _Atomic int started;

static int block_then_return(void *arg)
{
    atomic_fetch_add(&started, 1);
    int rc = spool_sem_acquire(&gate);
    if (rc)
        return rc;
    spool_sem_release(&gate);
    return 0;
}

static int start_many_blockers(void *arg)
{
    spool_task **t = malloc(BLOCKERS * sizeof *t);
    int *results = malloc(BLOCKERS * sizeof *results);
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_nonnull(results);
    spool_sem_init(&gate, 0);
    atomic_store(&started, 0);
    for (int i = 0; i < BLOCKERS; i++)
        ck_assert_ptr_nonnull(t[i] = spool_spawn(block_then_return, NULL));
    /* Wait until every blocker has started but the one without a stack
     * (bounded: a sanitizer build is slow, a broken runtime never gets
     * there and the check below fails). */
    for (int ms = 0; ms < 10000 && atomic_load(&started) < BLOCKERS - 1; ms++)
        spool_sleep_ms(1);
    spool_sem_release(&gate);
    int rc = spool_gather(t, BLOCKERS, results);
    int enomem = 0;
    for (int i = 0; i < BLOCKERS; i++) {
        ck_assert(results[i] == 0 || results[i] == -ENOMEM);
        enomem += results[i] == -ENOMEM;
    }
    free(t);
    free(results);
    /* One chunk could not be had: one task ended with -ENOMEM, the next
     * one got a new chunk, everything else ran. */
    ck_assert_int_eq(enomem, 1);
    ck_assert_int_eq(rc, -ENOMEM);
    return 0;
}

START_TEST(a_task_without_a_stack_ends_with_enomem_and_the_others_run)
{
    disarm_all();
    /* Chunk 1 serves main and the first 255 blockers; chunk 2 fails once. */
    spool__failpoint_arm(SPOOL__FAIL_STACK_CHUNK, 2);
    ck_assert_int_eq(run_on(1, start_many_blockers, NULL), 0);
}
END_TEST

START_TEST(main_without_a_stack_makes_spool_run_return_enomem)
{
    disarm_all();
    spool__failpoint_arm(SPOOL__FAIL_STACK_CHUNK, 1);
    ck_assert_int_eq(run_on(2, count_run, (void *)9), -ENOMEM);
    ck_assert_int_eq(atomic_load(&runs), 0);
    ck_assert_int_eq(run_on(2, count_run, (void *)9), 9);
}
END_TEST

/* ---- timers -------------------------------------------------------------------- */

static int sleep_twice(void *arg)
{
    ck_assert_int_eq(spool_sleep_ms(1), -ENOMEM); /* the heap could not grow */
    uint64_t t0 = spool_now_ns();
    ck_assert_int_eq(spool_sleep_ms(5), 0);
    ck_assert_uint_ge(spool_now_ns() - t0, 5 * SPOOL_MSEC);
    return 0;
}

START_TEST(a_sleep_without_a_timer_slot_returns_enomem_and_the_next_one_works)
{
    disarm_all();
    spool__failpoint_arm(SPOOL__FAIL_TIMER, 1);
    ck_assert_int_eq(run_on(1, sleep_twice, NULL), 0);
}
END_TEST

static Suite *failure_suite(void)
{
    Suite *s = suite_create("failure");
    TCase *tc = tcase_create("ring");
    tcase_add_test(tc, a_failed_ring_setup_fails_spool_run_and_main_never_runs);
    tcase_add_test(tc, a_failed_ring_setup_on_another_worker_stops_every_worker);
    suite_add_tcase(s, tc);
    tc = tcase_create("records");
    tcase_add_test(tc, spawn_returns_null_when_records_run_out_and_the_function_never_runs);
    suite_add_tcase(s, tc);
    tc = tcase_create("stacks");
    tcase_add_test(tc, a_task_without_a_stack_ends_with_enomem_and_the_others_run);
    tcase_add_test(tc, main_without_a_stack_makes_spool_run_return_enomem);
    suite_add_tcase(s, tc);
    tc = tcase_create("timers");
    tcase_add_test(tc, a_sleep_without_a_timer_slot_returns_enomem_and_the_next_one_works);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main(failure_suite, 0);
}
