/*
 * test_failure.c — running out of resources gives a clear error and the
 * runtime keeps running: a failed io_uring set-up (spool_run fails, main
 * never runs), no memory for task records (spool_spawn returns NULL and
 * the function never runs), for a stack (that task ends with -ENOMEM, the
 * others are unaffected; an owned task's drop releases its argument, and
 * a group member's failure reaches the group), or for a timer slot (the
 * sleep returns -ENOMEM).
 * Failures are injected with the runtime's fail points (failpoint.h).
 */
#include <check.h>
#include <errno.h>
#include <spool/spool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "failpoint.h"
#include "scheduler.h"
#include "stack.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

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

/* ---- handing an argument over: spool_spawn_owned ------------------------------- */

/* Each owned task's argument is a pipe's read end: fn closes it after a
 * wait (a cancellation point), drop closes it without running. The
 * counters say which of the two ran for each argument; the fds say
 * whether anything leaked. */
#define OWNED 16

static _Atomic int fn_ran[OWNED + 1];
static _Atomic int dropped[OWNED + 1];
static int owned_fd[OWNED + 1];
static int write_end[OWNED + 1];

static void owned_reset(void)
{
    for (int i = 0; i <= OWNED; i++) {
        atomic_store(&fn_ran[i], 0);
        atomic_store(&dropped[i], 0);
        owned_fd[i] = write_end[i] = -1;
    }
}

static void *owned_arg(int i)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    owned_fd[i] = p[0];
    write_end[i] = p[1];
    return (void *)(intptr_t)i;
}

/* fn: takes the fd, waits once (a cancellation point: -ECANCELED if the
 * task was cancelled before it ran), closes the fd. */
static int owned_fn(void *arg)
{
    int i = (int)(intptr_t)arg;
    atomic_fetch_add(&fn_ran[i], 1);
    int rc = spool_sleep_ms(1);
    close(owned_fd[i]);
    return rc;
}

/* drop: must not suspend; runs in no task when the task cannot start. */
static void owned_drop(void *arg)
{
    int i = (int)(intptr_t)arg;
    atomic_fetch_add(&dropped[i], 1);
    close(owned_fd[i]);
}

/* Every argument in [0, n) not checked yet was released exactly once
 * (by fn or by drop) and its fd is closed. Returns: how many of them drop
 * released. */
static int owned_check(int n)
{
    int drops = 0;
    for (int i = 0; i < n; i++) {
        if (write_end[i] < 0)
            continue; /* checked already */
        ck_assert_msg(atomic_load(&fn_ran[i]) + atomic_load(&dropped[i]) == 1,
                      "argument %d: fn ran %d times, drop %d times", i, atomic_load(&fn_ran[i]),
                      atomic_load(&dropped[i]));
        drops += atomic_load(&dropped[i]);
        /* The pipe's write end reports an error once no read end is
         * open (which a reused fd number cannot fake). */
        struct pollfd pfd = {.fd = write_end[i], .events = POLLOUT};
        ck_assert_int_eq(poll(&pfd, 1, 0), 1);
        ck_assert_msg(pfd.revents & POLLERR, "argument %d: its fd %d leaked", i, owned_fd[i]);
        close(write_end[i]);
        write_end[i] = -1;
    }
    return drops;
}

/* Fills the rest of the first arena chunk of stacks (main has one) with
 * blockers waiting on `gate`, so that the next task to start needs a new
 * chunk. One worker: nothing frees a stack meanwhile. */
#define CHUNK_BLOCKERS (SPOOL_STACKS_PER_CHUNK - 1)

static spool_task **hold_first_chunk(void)
{
    spool_task **t = malloc(CHUNK_BLOCKERS * sizeof *t);
    ck_assert_ptr_nonnull(t);
    spool_sem_init(&gate, 0);
    atomic_store(&started, 0);
    for (unsigned i = 0; i < CHUNK_BLOCKERS; i++)
        ck_assert_ptr_nonnull(t[i] = spool_spawn(block_then_return, NULL));
    for (int ms = 0; ms < 10000 && atomic_load(&started) < (int)CHUNK_BLOCKERS; ms++)
        spool_sleep_ms(1);
    ck_assert_int_eq(atomic_load(&started), CHUNK_BLOCKERS);
    return t;
}

static void release_first_chunk(spool_task **t)
{
    spool_sem_release(&gate);
    ck_assert_int_eq(spool_gather(t, CHUNK_BLOCKERS, NULL), 0);
    free(t);
}

static int owned_without_a_stack(void *arg)
{
    (void)arg;
    spool_task **blockers = hold_first_chunk();
    spool_task *t[OWNED];
    for (int i = 0; i < OWNED; i++)
        ck_assert_ptr_nonnull(t[i] = spool_spawn_owned(owned_fn, owned_arg(i), owned_drop));
    int failed = -1;
    for (int i = 0; i < OWNED; i++) {
        int rc = spool_join(t[i]);
        ck_assert_msg(rc == 0 || rc == -ENOMEM, "task %d: %d", i, rc);
        if (rc == -ENOMEM) {
            ck_assert_int_eq(failed, -1);
            failed = i;
            /* The joiner sees the result after drop has run. */
            ck_assert_int_eq(atomic_load(&dropped[i]), 1);
        }
    }
    ck_assert_int_ge(failed, 0);
    ck_assert_int_eq(owned_check(OWNED), 1);
    release_first_chunk(blockers);
    return 0;
}

START_TEST(an_owned_task_without_a_stack_runs_its_drop_once_and_leaks_nothing)
{
    disarm_all();
    owned_reset();
    /* Chunk 1 serves main and the blockers; chunk 2 fails once. */
    spool__failpoint_arm(SPOOL__FAIL_STACK_CHUNK, 2);
    ck_assert_int_eq(run_on(1, owned_without_a_stack, NULL), 0);
}
END_TEST

static int owned_without_a_record(void *arg)
{
    (void)arg;
    /* Fill the first slab of records but for a few: the owned spawns
     * below then need the second slab, whose allocation fails once. */
    spool__worker *w = spool__worker_current();
    spool_task *fill[64];
    size_t nfill = 0;
    while (w->slab_end - w->slab_bump > 4) {
        ck_assert_uint_lt(nfill, 64);
        ck_assert_ptr_nonnull(fill[nfill++] = spool_spawn(count_run, (void *)0));
    }
    int failed = -1;
    spool_task *t[OWNED];
    int ok = 0;
    for (int i = 0; i < OWNED; i++) {
        spool_task *task = spool_spawn_owned(owned_fn, owned_arg(i), owned_drop);
        if (task) {
            t[ok++] = task;
            continue;
        }
        /* NULL: drop has already run, in this task, before the return. */
        ck_assert_int_eq(failed, -1);
        failed = i;
        ck_assert_int_eq(atomic_load(&dropped[i]), 1);
        ck_assert_int_eq(atomic_load(&fn_ran[i]), 0);
    }
    ck_assert_int_ge(failed, 0);
    ck_assert_int_eq(spool_gather(t, (size_t)ok, NULL), 0);
    ck_assert_int_eq(spool_gather(fill, nfill, NULL), 0);
    /* fn NULL: refused, and arg is still released. */
    ck_assert_ptr_null(spool_spawn_owned(NULL, owned_arg(OWNED), owned_drop));
    ck_assert_int_eq(owned_check(OWNED + 1), 2);
    return 0;
}

START_TEST(spawn_owned_runs_drop_before_it_returns_null)
{
    disarm_all();
    owned_reset();
    /* The 1st slab check is main's record; the 2nd a later spawn's. */
    spool__failpoint_arm(SPOOL__FAIL_TASK_SLAB, 2);
    ck_assert_int_eq(run_on(1, owned_without_a_record, NULL), 0);
    /* Outside a task: refused, arg released in the caller. */
    owned_reset();
    ck_assert_ptr_null(spool_spawn_owned(owned_fn, owned_arg(0), owned_drop));
    ck_assert_int_eq(owned_check(1), 1);
}
END_TEST

static int owned_cancelled_first(void *arg)
{
    (void)arg;
    /* One worker, and main does not wait: the task has not run when it
     * is cancelled. It still runs, and releases its argument itself. */
    spool_task *t = spool_spawn_owned(owned_fn, owned_arg(0), owned_drop);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(spool_task_cancel(t), 0);
    ck_assert_int_eq(spool_join(t), -ECANCELED);
    ck_assert_int_eq(atomic_load(&fn_ran[0]), 1);
    ck_assert_int_eq(owned_check(1), 0);
    /* Detached tasks still queued when main returns: spool_run's shutdown
     * cancels them and runs them, and each releases its argument. */
    for (int i = 1; i < OWNED; i++) {
        spool_task *d = spool_spawn_owned(owned_fn, owned_arg(i), owned_drop);
        ck_assert_ptr_nonnull(d);
        ck_assert_int_eq(spool_detach(d), 0);
    }
    return 0;
}

START_TEST(an_owned_task_cancelled_before_it_runs_still_runs_fn_and_not_drop)
{
    disarm_all();
    owned_reset();
    ck_assert_int_eq(run_on(1, owned_cancelled_first, NULL), 0);
    ck_assert_int_eq(owned_check(OWNED), 0);
}
END_TEST

/* spool_spawn_on_owned from a plain thread: one of the tasks cannot
 * start; its drop runs on the worker before the thread's join returns. */
static void *remote_spawner(void *arg)
{
    spool_runtime *rt = arg;
    spool_task *t[OWNED];
    for (int i = 0; i < OWNED; i++)
        t[i] = spool_spawn_on_owned(rt, owned_fn, owned_arg(i), owned_drop);
    int enomem = 0;
    for (int i = 0; i < OWNED; i++) {
        if (!t[i])
            return (void *)(intptr_t)-1;
        int rc = spool_join_blocking(t[i]);
        if (rc == -ENOMEM && atomic_load(&dropped[i]) == 1)
            enomem++;
        else if (rc != 0)
            return (void *)(intptr_t)-2;
    }
    /* A refused spawn (rt NULL) releases arg in the caller. */
    if (spool_spawn_on_owned(NULL, owned_fn, owned_arg(OWNED), owned_drop) ||
        atomic_load(&dropped[OWNED]) != 1)
        return (void *)(intptr_t)-3;
    return (void *)(intptr_t)enomem;
}

static int owned_on_from_a_thread(void *arg)
{
    (void)arg;
    spool_task **blockers = hold_first_chunk();
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, remote_spawner, spool_runtime_current()), 0);
    ck_assert_int_eq(spool_to_thread(join_thread, &th), 1); /* exactly one -ENOMEM */
    ck_assert_int_eq(owned_check(OWNED + 1), 2);
    release_first_chunk(blockers);
    return 0;
}

START_TEST(spawn_on_owned_from_a_thread_runs_drop_when_the_task_cannot_start)
{
    disarm_all();
    owned_reset();
    spool__failpoint_arm(SPOOL__FAIL_STACK_CHUNK, 2);
    ck_assert_int_eq(run_on(1, owned_on_from_a_thread, NULL), 0);
}
END_TEST

/* A group member without a stack fails the group with -ENOMEM (its
 * bookkeeping runs though the task never does): the wait does not hang. */
static int group_member_without_a_stack(void *arg)
{
    (void)arg;
    spool_task **blockers = hold_first_chunk();
    spool_group g = SPOOL_GROUP_INIT;
    for (int i = 0; i < OWNED; i++)
        ck_assert_ptr_nonnull(spool_group_spawn(&g, count_run, (void *)0));
    ck_assert_int_eq(spool_group_wait(&g), -ENOMEM);
    ck_assert_int_eq(atomic_load(&runs), OWNED - 1);
    release_first_chunk(blockers);
    return 0;
}

START_TEST(a_group_member_without_a_stack_fails_the_group_with_enomem)
{
    disarm_all();
    spool__failpoint_arm(SPOOL__FAIL_STACK_CHUNK, 2);
    ck_assert_int_eq(run_on(1, group_member_without_a_stack, NULL), 0);
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
    tc = tcase_create("owned");
    tcase_add_test(tc, an_owned_task_without_a_stack_runs_its_drop_once_and_leaks_nothing);
    tcase_add_test(tc, spawn_owned_runs_drop_before_it_returns_null);
    tcase_add_test(tc, an_owned_task_cancelled_before_it_runs_still_runs_fn_and_not_drop);
    tcase_add_test(tc, spawn_on_owned_from_a_thread_runs_drop_when_the_task_cannot_start);
    tcase_add_test(tc, a_group_member_without_a_stack_fails_the_group_with_enomem);
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
