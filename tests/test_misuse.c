/*
 * test_misuse.c — every misuse the API promises to catch: calls outside a
 * task (-EPERM, or NULL from spool_spawn), bad arguments (-EINVAL), a
 * nested spool_run (-EBUSY), spool_strerror's edge cases, joining a
 * task twice (the runtime says so on stderr and aborts), also once a
 * later spawn has reused its record, and the other calls on such a stale
 * handle (-EINVAL, the new task untouched).
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spool/spool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_util.h"

static int sleep_then_return(void *arg)
{
    spool_sleep_ms(20);
    return (int)(intptr_t)arg;
}

/* ---- outside a task ---------------------------------------------------------- */

/* Every call that may suspend, made from a thread that is not in a task. */
static void check_outside_task_calls(void)
{
    spool_sem s = SPOOL_SEM_INIT(1);
    spool_task *tasks[1] = {NULL};
    ck_assert_int_eq(spool_join(NULL), -EPERM);
    ck_assert_int_eq(spool_gather(NULL, 0, NULL), -EPERM);
    ck_assert_int_eq(spool_gather(tasks, 1, NULL), -EPERM);
    ck_assert_int_eq(spool_yield(), -EPERM);
    ck_assert_int_eq(spool_sleep_ns(0), -EPERM);
    ck_assert_int_eq(spool_sleep_ns(1000), -EPERM);
    ck_assert_int_eq(spool_sleep_ms(1), -EPERM);
    ck_assert_int_eq(spool_sem_acquire(&s), -EPERM);
    ck_assert_int_eq(spool_workers(), -EPERM);
    ck_assert_ptr_null(spool_spawn(return_arg, NULL));
    ck_assert_int_eq(spool_in_task(), 0);
    ck_assert_int_eq(spool_cancelled(), 0);
    ck_assert_int_eq(spool_shield_begin(), -EPERM);
    ck_assert_int_eq(spool_shield_end(), -EPERM);
    spool_timeout to;
    ck_assert_int_eq(spool_timeout_enter(&to, SPOOL_MSEC), -EPERM);
    ck_assert_int_eq(spool_timeout_exit(&to), -EPERM);
    ck_assert_int_eq(spool_wait_for(NULL, 0), -EPERM);
    ck_assert_int_eq(spool_wait_any(tasks, 1, 0), -EPERM);
    ck_assert_int_eq(spool_to_thread(return_arg, NULL), -EPERM);
    ck_assert_ptr_null(spool_current());
    ck_assert_ptr_null(spool_runtime_current());
    struct spool_stats st;
    ck_assert_int_eq(spool_stats(&st), -EPERM);
    /* Nothing happened to the semaphore: one permit, as before. */
    ck_assert_int_eq(spool_sem_try_acquire(&s), 0);
    ck_assert_int_eq(spool_sem_try_acquire(&s), -EAGAIN);
    /* A release from a plain thread is allowed (it may wake a task). */
    ck_assert_int_eq(spool_sem_release(&s), 0);
    ck_assert_int_eq(spool_sem_try_acquire(&s), 0);
}

START_TEST(waiting_calls_outside_a_task_return_eperm)
{
    check_outside_task_calls();
}
END_TEST

START_TEST(spawn_outside_a_task_returns_null)
{
    ck_assert_ptr_null(spool_spawn(return_arg, NULL));
    ck_assert_ptr_null(spool_spawn(NULL, NULL));
}
END_TEST

static void *foreign_thread(void *arg)
{
    check_outside_task_calls();
    return NULL;
}

static int start_foreign_thread(void *arg)
{
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, foreign_thread, NULL), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    return 0;
}

START_TEST(calls_from_a_plain_thread_during_a_run_return_eperm)
{
    ck_assert_int_eq(run_on(2, start_foreign_thread, NULL), 0);
    /* and once the runtime is gone */
    check_outside_task_calls();
}
END_TEST

/* ---- bad arguments in a task --------------------------------------------------- */

static int spawn_null(void *arg)
{
    ck_assert_ptr_null(spool_spawn(NULL, NULL));
    ck_assert_ptr_null(spool_spawn(NULL, (void *)1));
    return 0;
}

START_TEST(spawn_of_a_null_function_returns_null)
{
    ck_assert_int_eq(run_on(1, spawn_null, NULL), 0);
}
END_TEST

static int join_null(void *arg)
{
    return spool_join(NULL);
}

START_TEST(join_of_null_returns_einval)
{
    ck_assert_int_eq(run_on(1, join_null, NULL), -EINVAL);
}
END_TEST

struct self_box {
    _Atomic(spool_task *) self;
};

static int join_self(void *arg)
{
    struct self_box *b = arg;
    spool_task *me;
    while (!(me = atomic_load(&b->self)))
        spool_yield();
    ck_assert_int_eq(spool_join(me), -EINVAL);
    spool_task *list[1] = {me};
    ck_assert_int_eq(spool_gather(list, 1, NULL), -EINVAL);
    return 42; /* still alive and joinable */
}

static int spawn_self_joiner(void *arg)
{
    struct self_box b = {NULL};
    spool_task *t = spool_spawn(join_self, &b);
    ck_assert_ptr_nonnull(t);
    atomic_store(&b.self, t);
    return spool_join(t);
}

START_TEST(a_task_joining_itself_gets_einval)
{
    ck_assert_int_eq(run_on(1, spawn_self_joiner, NULL), 42);
    ck_assert_int_eq(run_on(2, spawn_self_joiner, NULL), 42);
}
END_TEST

static int gather_null_array(void *arg)
{
    int r[3];
    ck_assert_int_eq(spool_gather(NULL, 3, r), -EINVAL);
    ck_assert_int_eq(spool_gather(NULL, 1, NULL), -EINVAL);
    return 0;
}

START_TEST(gather_of_a_null_array_returns_einval)
{
    ck_assert_int_eq(run_on(1, gather_null_array, NULL), 0);
}
END_TEST

static int gather_null_entry(void *arg)
{
    spool_task *t[3];
    ck_assert_ptr_nonnull(t[0] = spool_spawn(sleep_then_return, (void *)(intptr_t)10));
    t[1] = NULL;
    ck_assert_ptr_nonnull(t[2] = spool_spawn(return_arg, (void *)(intptr_t)12));
    int r[3] = {-1, -1, -1};
    ck_assert_int_eq(spool_gather(t, 3, r), -EINVAL);
    /* No task was waited for or freed: both can still be joined. */
    ck_assert_int_eq(spool_join(t[0]), 10);
    ck_assert_int_eq(spool_join(t[2]), 12);
    /* And the records were not recycled behind our back. */
    spool_task *u = spool_spawn(return_arg, (void *)(intptr_t)13);
    ck_assert_ptr_nonnull(u);
    ck_assert_int_eq(spool_join(u), 13);
    return 0;
}

START_TEST(gather_with_a_null_entry_returns_einval_and_frees_nothing)
{
    ck_assert_int_eq(run_on(1, gather_null_entry, NULL), 0);
    ck_assert_int_eq(run_on(2, gather_null_entry, NULL), 0);
}
END_TEST

static int gather_self_entry(void *arg)
{
    struct self_box *b = arg;
    spool_task *me;
    while (!(me = atomic_load(&b->self)))
        spool_yield();
    spool_task *t[3];
    ck_assert_ptr_nonnull(t[0] = spool_spawn(return_arg, (void *)(intptr_t)1));
    t[1] = me;
    ck_assert_ptr_nonnull(t[2] = spool_spawn(sleep_then_return, (void *)(intptr_t)3));
    ck_assert_int_eq(spool_gather(t, 3, NULL), -EINVAL);
    ck_assert_int_eq(spool_join(t[0]), 1);
    ck_assert_int_eq(spool_join(t[2]), 3);
    return 7;
}

static int spawn_self_gatherer(void *arg)
{
    struct self_box b = {NULL};
    spool_task *t = spool_spawn(gather_self_entry, &b);
    ck_assert_ptr_nonnull(t);
    atomic_store(&b.self, t);
    return spool_join(t);
}

START_TEST(gather_including_the_caller_returns_einval_and_frees_nothing)
{
    ck_assert_int_eq(run_on(2, spawn_self_gatherer, NULL), 7);
}
END_TEST

static int sem_null_in_task(void *arg)
{
    ck_assert_int_eq(spool_sem_acquire(NULL), -EINVAL);
    ck_assert_int_eq(spool_sem_release(NULL), -EINVAL);
    ck_assert_int_eq(spool_sem_try_acquire(NULL), -EINVAL);
    return 0;
}

START_TEST(semaphore_calls_on_null_return_einval)
{
    ck_assert_int_eq(spool_sem_init(NULL, 1), -EINVAL);
    ck_assert_int_eq(spool_sem_try_acquire(NULL), -EINVAL);
    ck_assert_int_eq(run_on(1, sem_null_in_task, NULL), 0);
}
END_TEST

START_TEST(semaphore_init_beyond_the_maximum_returns_einval)
{
    spool_sem s = SPOOL_SEM_INIT(1);
    ck_assert_int_eq(spool_sem_init(&s, (unsigned)SPOOL_SEM_MAX + 1u), -EINVAL);
    ck_assert_int_eq(spool_sem_init(&s, UINT_MAX), -EINVAL);
    /* s was left alone */
    ck_assert_int_eq(spool_sem_try_acquire(&s), 0);
    ck_assert_int_eq(spool_sem_try_acquire(&s), -EAGAIN);
    ck_assert_int_eq(spool_sem_init(&s, (unsigned)SPOOL_SEM_MAX), 0);
}
END_TEST

/* ---- spool_run's arguments ---------------------------------------------------- */

static _Atomic int main_ran;

static int note_ran(void *arg)
{
    atomic_store(&main_ran, 1);
    return (int)(intptr_t)arg;
}

START_TEST(run_with_a_null_main_returns_einval)
{
    ck_assert_int_eq(spool_run(NULL, NULL, NULL), -EINVAL);
    spool_config cfg = {.workers = 1};
    ck_assert_int_eq(spool_run(NULL, NULL, &cfg), -EINVAL);
}
END_TEST

START_TEST(run_with_too_many_workers_returns_einval)
{
    spool_config cfg = {.workers = SPOOL_MAX_WORKERS + 1};
    ck_assert_int_eq(spool_run(note_ran, NULL, &cfg), -EINVAL);
    cfg.workers = UINT_MAX;
    ck_assert_int_eq(spool_run(note_ran, NULL, &cfg), -EINVAL);
    ck_assert_int_eq(atomic_load(&main_ran), 0);
}
END_TEST

START_TEST(run_with_a_stack_size_out_of_range_returns_einval)
{
    spool_config cfg = {.workers = 1, .stack_size = SPOOL_MIN_STACK_SIZE - 1};
    ck_assert_int_eq(spool_run(note_ran, NULL, &cfg), -EINVAL);
    cfg.stack_size = 1;
    ck_assert_int_eq(spool_run(note_ran, NULL, &cfg), -EINVAL);
    cfg.stack_size = SPOOL_MAX_STACK_SIZE + 1;
    ck_assert_int_eq(spool_run(note_ran, NULL, &cfg), -EINVAL);
    cfg.stack_size = SIZE_MAX;
    ck_assert_int_eq(spool_run(note_ran, NULL, &cfg), -EINVAL);
    ck_assert_int_eq(atomic_load(&main_ran), 0);
}
END_TEST

START_TEST(run_with_stack_sizes_at_and_inside_the_limits_works)
{
    spool_config cfg = {.workers = 1, .stack_size = SPOOL_MIN_STACK_SIZE};
    ck_assert_int_eq(spool_run(note_ran, (void *)(intptr_t)5, &cfg), 5);
    cfg.stack_size = SPOOL_MIN_STACK_SIZE + 1; /* rounded up to pages */
    ck_assert_int_eq(spool_run(note_ran, (void *)(intptr_t)6, &cfg), 6);
    if (!SANITIZED) {
        /* 256 stacks of 1 GiB are reserved, not committed. */
        cfg.stack_size = SPOOL_MAX_STACK_SIZE;
        int rc = spool_run(note_ran, (void *)(intptr_t)7, &cfg);
        ck_assert_msg(rc == 7 || rc == -ENOMEM, "spool_run with the largest stack: %d", rc);
    }
}
END_TEST

static _Atomic int inner_ran;

static int inner_main(void *arg)
{
    atomic_store(&inner_ran, 1);
    return 99;
}

static int nested_run(void *arg)
{
    ck_assert_int_eq(spool_run(inner_main, NULL, NULL), -EBUSY);
    spool_config cfg = {.workers = 1};
    ck_assert_int_eq(spool_run(inner_main, NULL, &cfg), -EBUSY);
    ck_assert_int_eq(spool_run(NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(atomic_load(&inner_ran), 0);
    /* The outer runtime goes on. */
    spool_task *t = spool_spawn(sleep_then_return, (void *)(intptr_t)4);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(spool_join(t), 4);
    ck_assert_int_eq(spool_sleep_ms(1), 0);
    return 5;
}

static int nested_run_in_child(void *arg)
{
    spool_task *t = spool_spawn(nested_run, NULL);
    ck_assert_ptr_nonnull(t);
    return spool_join(t);
}

START_TEST(run_inside_a_task_returns_ebusy_and_the_outer_runtime_goes_on)
{
    ck_assert_int_eq(run_on(1, nested_run, NULL), 5);
    ck_assert_int_eq(run_on(2, nested_run_in_child, NULL), 5);
    ck_assert_int_eq(atomic_load(&inner_ran), 0);
}
END_TEST

/* ---- spool_strerror ----------------------------------------------------------- */

START_TEST(strerror_takes_an_errno_or_its_negation)
{
    ck_assert_str_eq(spool_strerror(-ENOMEM), spool_strerror(ENOMEM));
    ck_assert_str_eq(spool_strerror(-EINVAL), strerror(EINVAL));
    ck_assert_str_ne(spool_strerror(-EINVAL), spool_strerror(-ENOMEM));
    ck_assert_str_eq(spool_strerror(0), "Success");
}
END_TEST

START_TEST(strerror_of_an_unknown_value_is_never_null)
{
    ck_assert_ptr_nonnull(spool_strerror(99999));
    ck_assert_ptr_nonnull(spool_strerror(-99999));
    ck_assert_ptr_nonnull(spool_strerror(INT_MAX));
    ck_assert_ptr_nonnull(spool_strerror(INT_MIN));
    ck_assert_ptr_nonnull(spool_strerror(INT_MIN + 1));
}
END_TEST

/* ---- joining twice -------------------------------------------------------------- */

static int join_twice(void *arg)
{
    spool_task *t = spool_spawn(return_arg, (void *)(intptr_t)1);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(spool_join(t), 1);
    spool_join(t); /* must abort */
    return 0;
}

START_TEST(joining_a_task_twice_aborts)
{
    run_on(1, join_twice, NULL);
    ck_abort_msg("the second join of a task returned");
}
END_TEST

static int join_twice_after_reuse(void *arg)
{
    spool_task *t = spool_spawn(return_arg, (void *)(intptr_t)1);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(spool_join(t), 1);
    /* Another spawn in between, as real programs do. */
    spool_task *u = spool_spawn(sleep_then_return, (void *)(intptr_t)2);
    ck_assert_ptr_nonnull(u);
    spool_join(t); /* must abort */
    spool_join(u);
    return 0;
}

START_TEST(joining_a_task_twice_aborts_even_after_another_spawn)
{
    run_on(1, join_twice_after_reuse, NULL);
    ck_abort_msg("the second join of a task returned");
}
END_TEST

static int join_target(void *arg)
{
    spool_task *target = arg;
    return spool_join(target);
}

static int two_joiners(void *arg)
{
    spool_task *t = spool_spawn(sleep_then_return, (void *)(intptr_t)1);
    ck_assert_ptr_nonnull(t);
    spool_task *j = spool_spawn(join_target, t);
    ck_assert_ptr_nonnull(j);
    spool_sleep_ms(5); /* j is waiting on t by now */
    spool_join(t);      /* must abort */
    spool_join(j);
    return 0;
}

START_TEST(two_tasks_joining_the_same_task_abort)
{
    run_on(1, two_joiners, NULL);
    ck_abort_msg("two joins of one task returned");
}
END_TEST

static int gather_duplicate(void *arg)
{
    spool_task *t = spool_spawn(sleep_then_return, (void *)(intptr_t)1);
    ck_assert_ptr_nonnull(t);
    spool_task *list[2] = {t, t};
    spool_gather(list, 2, NULL); /* must abort */
    return 0;
}

START_TEST(gathering_the_same_task_twice_aborts)
{
    run_on(1, gather_duplicate, NULL);
    ck_abort_msg("a gather naming one task twice returned");
}
END_TEST

/* Runs fn in a child with stderr captured; returns the wait status. */
static int run_captured(void (*fn)(void), char *buf, size_t len)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        fn();
        _exit(0);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < len && (n = read(fds[0], buf + got, len - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = 0;
    close(fds[0]);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

static void double_join_child(void)
{
    run_on(1, join_twice, NULL);
}

static void two_joiners_child(void)
{
    run_on(2, two_joiners, NULL);
}

START_TEST(joining_twice_says_so_on_stderr)
{
    char err[4096];
    int status = run_captured(two_joiners_child, err, sizeof err);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "two joiners: child status %#x, stderr: %s", status, err);
    ck_assert_msg(strstr(err, "joined") != NULL, "stderr said: %s", err);
    status = run_captured(double_join_child, err, sizeof err);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "sequential double join: child status %#x, stderr: %s", status, err);
    ck_assert_msg(strstr(err, "joined") != NULL, "stderr said: %s", err);
}
END_TEST

/* ---- stale handles: the record reused by a later spawn ----------------------------- */

/* What a child's task says on stderr when a stale call did not abort,
 * or a check failed (the parent looks for it). */
static void child_say(const char *what, long value)
{
    fprintf(stderr, "CHILD: %s %ld\n", what, value);
}

/* Joins t, spawns u reusing t's record (one worker: its record cache is
 * LIFO), and checks that it did. Returns u, or NULL (said on stderr). */
static spool_task *spawn_over_joined(spool_task **t_out)
{
    spool_task *t = spool_spawn(return_arg, (void *)(intptr_t)1);
    if (!t || spool_join(t) != 1) {
        child_say("first join failed", 0);
        return NULL;
    }
    spool_task *u = spool_spawn(return_arg, (void *)(intptr_t)2);
    if (!u || record_of(u) != record_of(t)) {
        child_say("record not reused", 0);
        return NULL;
    }
    *t_out = t;
    return u;
}

/* Which call makes the stale join: 0 spool_join, 1 spool_gather,
 * 2 spool_wait_for. */
static int stale_kind;

static int stale_join_after_reuse(void *arg)
{
    (void)arg;
    spool_task *t = NULL;
    spool_task *u = spawn_over_joined(&t);
    if (!u)
        return 0;
    int rc;
    if (stale_kind == 0) {
        rc = spool_join(t); /* must abort */
    } else if (stale_kind == 1) {
        spool_task *list[1] = {t};
        int res[1] = {0};
        rc = spool_gather(list, 1, res); /* must abort */
        if (rc == 0)
            rc = res[0];
    } else {
        rc = spool_wait_for(t, SPOOL_SEC); /* must abort */
    }
    child_say("stale join returned", rc); /* the old runtime: u's result, 2 */
    spool_join(u);
    return 0;
}

/* Many reuses in between (one short of the generations the handle can
 * tell apart): still caught. */
static int stale_join_after_many_reuses(void *arg)
{
    (void)arg;
    spool_task *t = NULL;
    spool_task *u = spawn_over_joined(&t);
    if (!u)
        return 0;
    for (int i = 0; i < 62; i++) {
        if (spool_join(u) != 2) {
            child_say("join of a reusing task failed", i);
            return 0;
        }
        u = spool_spawn(return_arg, (void *)(intptr_t)2);
        if (!u || record_of(u) != record_of(t)) {
            child_say("record not reused", i);
            return 0;
        }
    }
    child_say("stale join returned", spool_join(t)); /* must abort */
    spool_join(u);
    return 0;
}

/* A plain thread joins a task of the runtime, spawns again (reusing the
 * record through the runtime's remote cache) and joins the stale handle. */
static void *stale_join_blocking_thread(void *arg)
{
    spool_runtime *rt = arg;
    spool_task *t = spool_spawn_on(rt, return_arg, (void *)(intptr_t)1);
    if (!t || spool_join_blocking(t) != 1) {
        child_say("first blocking join failed", 0);
        return NULL;
    }
    spool_task *u = spool_spawn_on(rt, return_arg, (void *)(intptr_t)2);
    if (!u || record_of(u) != record_of(t)) {
        child_say("record not reused", 0);
        return NULL;
    }
    child_say("stale join returned", spool_join_blocking(t)); /* must abort */
    spool_join_blocking(u);
    return NULL;
}

static int stale_join_blocking(void *arg)
{
    (void)arg;
    pthread_t th;
    if (pthread_create(&th, NULL, stale_join_blocking_thread, spool_runtime_current()) != 0)
        return -1;
    return spool_to_thread(join_thread, &th);
}

static void stale_join_child(void)
{
    run_on(1, stale_join_after_reuse, NULL);
}

static void stale_join_many_child(void)
{
    run_on(1, stale_join_after_many_reuses, NULL);
}

static void stale_join_blocking_child(void)
{
    run_on(1, stale_join_blocking, NULL);
}

/* A stale join dies with a message that names the call and the misuse,
 * before it touches the task now in the record (whose own join would
 * otherwise be the one to abort, blamed for nothing it did). */
static void expect_stale_abort(void (*child)(void), const char *call, const char *detail)
{
    char err[4096];
    int status = run_captured(child, err, sizeof err);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "%s: child status %#x, stderr: %s", call,
                  status, err);
    ck_assert_msg(strstr(err, "CHILD:") == NULL, "%s: stderr said: %s", call, err);
    char want[128];
    snprintf(want, sizeof want, "spool: %s: task handle already joined", call);
    ck_assert_msg(strstr(err, want) != NULL, "%s: stderr said: %s", call, err);
    ck_assert_msg(strstr(err, detail) != NULL, "%s: stderr said: %s", call, err);
}

START_TEST(a_stale_join_after_the_record_was_reused_aborts_naming_the_misuse)
{
    static const char *const calls[] = {"spool_join", "spool_gather", "spool_wait_for"};
    for (int k = 0; k < 3; k++) {
        stale_kind = k; /* the fork copies it */
        expect_stale_abort(stale_join_child, calls[k], "record reused");
    }
    expect_stale_abort(stale_join_many_child, "spool_join", "record reused");
    expect_stale_abort(stale_join_blocking_child, "spool_join_blocking", "record reused");
    /* Not reused yet: the record is free, and the message says so. */
    expect_stale_abort(double_join_child, "spool_join", "record free");
}
END_TEST

/* The calls that report a stale handle as a value: -EINVAL (NULL for the
 * name), and the task now in the record is untouched. */
static int note_self(void *arg)
{
    *(spool_task **)arg = spool_current();
    return 7;
}

static int stale_handle_calls(void *arg)
{
    (void)arg;
    spool_task *t = spool_spawn(return_arg, (void *)(intptr_t)1);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(spool_task_set_name(t, "first"), 0);
    ck_assert_int_eq(spool_join(t), 1);
    spool_task *self = NULL;
    spool_task *u = spool_spawn(note_self, &self);
    ck_assert_ptr_nonnull(u);
    ck_assert_uint_eq(record_of(u), record_of(t)); /* one worker: the record cache is LIFO */
    ck_assert_ptr_ne(u, t);                        /* ... and the handle tells them apart */
    ck_assert_int_eq(spool_task_cancel(t), -EINVAL);
    ck_assert_int_eq(spool_task_set_name(t, "stale"), -EINVAL);
    ck_assert_ptr_null(spool_task_name(t));
    spool_task *list[1] = {t};
    ck_assert_int_eq(spool_wait_any(list, 1, 0), -EINVAL);
    ck_assert_int_eq(spool_detach(t), -EINVAL);
    /* u was not cancelled, named nor detached: it runs, and its join works. */
    ck_assert_ptr_null(spool_task_name(u));
    ck_assert_int_eq(spool_join(u), 7);
    ck_assert_ptr_eq(self, u); /* spool_current() is the handle spawn returned */
    /* The stale handle of u, after u's record went back to the cache. */
    ck_assert_int_eq(spool_task_cancel(u), -EINVAL);
    ck_assert_int_eq(spool_detach(u), -EINVAL);
    return 0;
}

START_TEST(calls_on_a_stale_handle_return_einval_and_leave_the_new_task_alone)
{
    ck_assert_int_eq(run_on(1, stale_handle_calls, NULL), 0);
}
END_TEST

/* ---- runner ---------------------------------------------------------------- */

static Suite *misuse_suite(void)
{
    Suite *s = suite_create("misuse");
    ADD_TEST(s, waiting_calls_outside_a_task_return_eperm);
    ADD_TEST(s, spawn_outside_a_task_returns_null);
    ADD_TEST(s, calls_from_a_plain_thread_during_a_run_return_eperm);
    ADD_TEST(s, spawn_of_a_null_function_returns_null);
    ADD_TEST(s, join_of_null_returns_einval);
    ADD_TEST(s, a_task_joining_itself_gets_einval);
    ADD_TEST(s, gather_of_a_null_array_returns_einval);
    ADD_TEST(s, gather_with_a_null_entry_returns_einval_and_frees_nothing);
    ADD_TEST(s, gather_including_the_caller_returns_einval_and_frees_nothing);
    ADD_TEST(s, semaphore_calls_on_null_return_einval);
    ADD_TEST(s, semaphore_init_beyond_the_maximum_returns_einval);
    ADD_TEST(s, run_with_a_null_main_returns_einval);
    ADD_TEST(s, run_with_too_many_workers_returns_einval);
    ADD_TEST(s, run_with_a_stack_size_out_of_range_returns_einval);
    ADD_TEST(s, run_with_stack_sizes_at_and_inside_the_limits_works);
    ADD_TEST(s, run_inside_a_task_returns_ebusy_and_the_outer_runtime_goes_on);
    ADD_TEST(s, strerror_takes_an_errno_or_its_negation);
    ADD_TEST(s, strerror_of_an_unknown_value_is_never_null);
    ADD_SIGNAL_TEST(s, joining_a_task_twice_aborts, SIGABRT);
    ADD_SIGNAL_TEST(s, joining_a_task_twice_aborts_even_after_another_spawn, SIGABRT);
    ADD_SIGNAL_TEST(s, two_tasks_joining_the_same_task_abort, SIGABRT);
    ADD_SIGNAL_TEST(s, gathering_the_same_task_twice_aborts, SIGABRT);
    ADD_TEST(s, joining_twice_says_so_on_stderr);
    ADD_TEST(s, a_stale_join_after_the_record_was_reused_aborts_naming_the_misuse);
    ADD_TEST(s, calls_on_a_stale_handle_return_einval_and_leave_the_new_task_alone);
    return s;
}

int main(void)
{
    return check_main(misuse_suite, 120);
}
