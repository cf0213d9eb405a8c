/*
 * test_detach.c — detached tasks, names, the current task, and the end of
 * a run (runtime/join.c spool_detach, runtime/names.c, runtime/runtime.c):
 * a detached task's record is freed at its exit; its failure is reported
 * once (on_task_error, or a line on stderr naming it), the -ECANCELED of
 * a cancellation never; detaching a finished task frees and reports it;
 * detach twice is -EINVAL and join after detach aborts; when main returns,
 * tasks blocked forever are cancelled and clean up, and a shielded wait
 * finishes first; names set, read, cleared, kept until the record is freed.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spool/spool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_util.h"

static const unsigned detach_workers[] = {1, 2, 4};

/* ---- helpers ------------------------------------------------------------------ */

/* Tasks alive in the current runtime (main included). The figures are
 * over 12 KiB: not on a task's stack. */
static uint64_t alive_now(void)
{
    struct spool_stats *st = stats_snap();
    uint64_t alive = st->alive;
    free(st);
    return alive;
}

static uint64_t exited_now(void)
{
    struct spool_stats *st = stats_snap();
    uint64_t exited = st->total.exited;
    free(st);
    return exited;
}

/* Waits (up to 10 s) until only main is alive. */
static void wait_until_only_main(void)
{
    ck_assert_uint_eq(alive_once_settled(HANG_GUARD_NS), 1);
}

/* Waits until t has finished (it stays joinable). */
static void wait_finished(spool_task *t)
{
    ck_assert_int_eq(spool_wait_any(&t, 1, SPOOL_FOREVER), 0);
}

/* What on_task_error saw. */
struct reports {
    atomic_int count;
    spool_task *task;
    int result;
    int results[8];
    const char *name;
    int in_task;
};

static struct reports reports;

static void on_error(spool_task *task, int result, void *arg)
{
    ck_assert_ptr_eq(arg, &reports);
    int n = atomic_load(&reports.count);
    if (n < 8)
        reports.results[n] = result;
    reports.task = task;
    reports.result = result;
    reports.name = spool_task_name(task);
    reports.in_task = spool_in_task() || spool_current() != NULL;
    atomic_store(&reports.count, n + 1);
}

static int run_reporting(unsigned workers, spool_fn fn, void *arg)
{
    memset(&reports, 0, sizeof reports);
    spool_config cfg = {.workers = workers, .on_task_error = on_error, .on_task_error_arg = &reports};
    return spool_run(fn, arg, &cfg);
}

static int fail_with(void *arg)
{
    spool_sleep_ms(2);
    return (int)(intptr_t)arg;
}

/* ---- records are freed at exit ------------------------------------------------------ */

#define DETACHED_TASKS (SANITIZED ? 20000 : 100000)

static uintptr_t seen[DETACHED_TASKS];

static int cmp_uintptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

static int many_detached(void *arg)
{
    (void)arg;
    for (int i = 0; i < DETACHED_TASKS; i++) {
        spool_task *t = spool_spawn(return_arg, (void *)(intptr_t)(i & 1));
        REQUIRE(t != NULL);
        REQUIRE(spool_detach(t) == 0);
        seen[i] = record_of(t);
        /* A bounded number in flight: records can be reused if freed. */
        if (i % 256 == 255)
            while (alive_now() > 512)
                spool_yield();
    }
    wait_until_only_main();
    ck_assert_uint_ge(exited_now(), DETACHED_TASKS);
    /* Every record kept would be a distinct address. */
    qsort(seen, DETACHED_TASKS, sizeof seen[0], cmp_uintptr);
    size_t distinct = 0;
    for (size_t i = 0; i < DETACHED_TASKS; i++)
        if (i == 0 || seen[i] != seen[i - 1])
            distinct++;
    ck_assert_msg(distinct < DETACHED_TASKS / 2, "%zu distinct records for %d detached tasks", distinct,
                  DETACHED_TASKS);
    return 0;
}

START_TEST(detached_tasks_records_are_freed_at_exit)
{
    ck_assert_int_eq(run_reporting(detach_workers[_i], many_detached, NULL), 0);
    ck_assert_int_eq(atomic_load(&reports.count), 0);
}
END_TEST

/* ---- failures are reported once ------------------------------------------------------ */

static int one_failure(void *arg)
{
    (void)arg;
    spool_task *t = spool_spawn(fail_with, (void *)(intptr_t)-EIO);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(spool_task_set_name(t, "failing"), 0);
    ck_assert_int_eq(spool_detach(t), 0);
    uint64_t until = spool_now_ns() + HANG_GUARD_NS;
    while (atomic_load(&reports.count) == 0 && spool_now_ns() < until)
        spool_sleep_ms(1);
    spool_sleep_ms(20);
    ck_assert_int_eq(atomic_load(&reports.count), 1);
    ck_assert_ptr_eq(reports.task, t);
    ck_assert_int_eq(reports.result, -EIO);
    ck_assert_ptr_nonnull(reports.name); /* the record is still there */
    ck_assert_str_eq(reports.name, "failing");
    /* reports.in_task: 0 when the exit path reported it, 1 when the task
     * had already ended and spool_detach (in this task) did: both are
     * the contract, and which one happens is a race. */
    return 0;
}

START_TEST(a_detached_failure_calls_on_task_error_once_with_the_task_and_result)
{
    ck_assert_int_eq(run_reporting(detach_workers[_i], one_failure, NULL), 0);
    ck_assert_int_eq(atomic_load(&reports.count), 1);
}
END_TEST

static spool_event never_set = SPOOL_EVENT_INIT;

static int wait_never(void *arg)
{
    (void)arg;
    return spool_event_wait(&never_set);
}

/* Cancelled while running, it fails with something else all the same. */
static int cancelled_then_eio(void *arg)
{
    (void)arg;
    spool_task_cancel(spool_current());
    return -EIO;
}

static int only_failures(void *arg)
{
    (void)arg;
    spool_task *ok0 = spool_spawn(fail_with, (void *)(intptr_t)0);
    spool_task *ok5 = spool_spawn(fail_with, (void *)(intptr_t)5);
    spool_task *waiter = spool_spawn(wait_never, NULL);
    spool_task *eio = spool_spawn(cancelled_then_eio, NULL);
    ck_assert_ptr_nonnull(ok0);
    ck_assert_ptr_nonnull(ok5);
    ck_assert_ptr_nonnull(waiter);
    ck_assert_ptr_nonnull(eio);
    ck_assert_int_eq(spool_detach(ok0), 0);
    ck_assert_int_eq(spool_detach(ok5), 0);
    ck_assert_int_eq(spool_detach(waiter), 0);
    ck_assert_int_eq(spool_detach(eio), 0);
    spool_sleep_ms(5);
    ck_assert_int_eq(spool_task_cancel(waiter), 0); /* its -ECANCELED is no failure */
    wait_until_only_main();
    ck_assert_int_eq(atomic_load(&reports.count), 1);
    ck_assert_int_eq(reports.result, -EIO);
    /* -ECANCELED without a cancellation is a failure like any other. */
    spool_task *liar = spool_spawn(fail_with, (void *)(intptr_t)-ECANCELED);
    ck_assert_ptr_nonnull(liar);
    ck_assert_int_eq(spool_detach(liar), 0);
    wait_until_only_main();
    ck_assert_int_eq(atomic_load(&reports.count), 2);
    ck_assert_ptr_eq(reports.task, liar);
    ck_assert_int_eq(reports.result, -ECANCELED);
    /* Cancelled by the shutdown: not reported either. */
    waiter = spool_spawn(wait_never, NULL);
    ck_assert_ptr_nonnull(waiter);
    ck_assert_int_eq(spool_detach(waiter), 0);
    return 0;
}

START_TEST(only_failures_are_reported_not_results_nor_the_ecanceled_of_a_cancellation)
{
    ck_assert_int_eq(run_reporting(detach_workers[_i], only_failures, NULL), 0);
    ck_assert_int_eq(atomic_load(&reports.count), 2);
}
END_TEST

/* The default: a line on stderr naming the task. */
static spool_task *unnamed_failure;

static int default_report(void *arg)
{
    (void)arg;
    spool_task *t = spool_spawn(fail_with, (void *)(intptr_t)-EIO);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(spool_task_set_name(t, "disk-writer"), 0);
    ck_assert_int_eq(spool_detach(t), 0);
    unnamed_failure = spool_spawn(fail_with, (void *)(intptr_t)-ENOSPC);
    ck_assert_ptr_nonnull(unnamed_failure);
    ck_assert_int_eq(spool_detach(unnamed_failure), 0);
    wait_until_only_main();
    return 0;
}

START_TEST(the_default_report_is_a_line_on_stderr_naming_the_task)
{
    struct capture c;
    capture_begin(&c);
    int rc = run_on(2, default_report, NULL);
    char *err = capture_end(&c);
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(strstr(err, "disk-writer") != NULL, "stderr: %s", err);
    /* Without a name, the task is named by its address. */
    char addr[64];
    snprintf(addr, sizeof addr, "%p", (void *)unnamed_failure);
    ck_assert_msg(strstr(err, addr) != NULL, "no %s in stderr: %s", addr, err);
    /* One line each. */
    int lines = 0;
    for (const char *p = err; *p; p++)
        lines += *p == '\n';
    ck_assert_msg(lines == 2, "stderr: %s", err);
    free(err);
}
END_TEST

/* ---- detaching a finished task ------------------------------------------------------------ */

static int detach_in_thread(void *arg)
{
    return spool_detach(arg);
}

static int detach_finished(void *arg)
{
    (void)arg;
    /* On one worker, a freed record is the next one handed out. */
    spool_task *t = spool_spawn(return_arg, (void *)(intptr_t)-EIO);
    ck_assert_ptr_nonnull(t);
    wait_finished(t);
    ck_assert_int_eq(atomic_load(&reports.count), 0);
    ck_assert_int_eq(spool_detach(t), 0);
    ck_assert_int_eq(atomic_load(&reports.count), 1); /* at once */
    ck_assert_ptr_eq(reports.task, t);
    ck_assert_int_eq(reports.result, -EIO);
    spool_task *again = spool_spawn(return_arg, (void *)(intptr_t)4);
    ck_assert_uint_eq(record_of(again), record_of(t)); /* freed */
    ck_assert_ptr_ne(again, t);                         /* a new handle */
    /* A success: freed, not reported. */
    wait_finished(again);
    ck_assert_int_eq(spool_detach(again), 0);
    ck_assert_int_eq(atomic_load(&reports.count), 1);
    spool_task *third = spool_spawn(return_arg, (void *)(intptr_t)-EPIPE);
    ck_assert_uint_eq(record_of(third), record_of(t));
    /* From a plain thread: a finished task may be detached anywhere. */
    wait_finished(third);
    ck_assert_int_eq(spool_to_thread(detach_in_thread, third), 0);
    ck_assert_int_eq(atomic_load(&reports.count), 2);
    ck_assert_ptr_eq(reports.task, third);
    ck_assert_int_eq(reports.result, -EPIPE);
    wait_until_only_main();
    return 0;
}

START_TEST(detaching_a_finished_task_frees_it_and_reports_its_failure)
{
    ck_assert_int_eq(run_reporting(1, detach_finished, NULL), 0);
    ck_assert_int_eq(atomic_load(&reports.count), 2);
}
END_TEST

/* ---- misuse ------------------------------------------------------------------------------------ */

static _Atomic int joiner_joining;
static spool_sem slow_go;

/* Sets joiner_joining and joins arg: on one worker nothing else runs
 * between the two, so once main sees the flag the join has begun. */
static int join_it(void *arg)
{
    atomic_store(&joiner_joining, 1);
    return spool_join(arg);
}

/* Returns 6 once main lets it. */
static int return_6_when_told(void *arg)
{
    (void)arg;
    return spool_sem_acquire(&slow_go) == 0 ? 6 : -1;
}

/* One worker: the joiner is waiting in its join of a task that cannot
 * end yet when main tries the detach. */
static int detach_misuse(void *arg)
{
    (void)arg;
    ck_assert_int_eq(spool_detach(NULL), -EINVAL);
    spool_task *t = spool_spawn(fail_with, (void *)(intptr_t)1);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(spool_detach(t), 0);
    ck_assert_int_eq(spool_detach(t), -EINVAL);
    atomic_store(&joiner_joining, 0);
    spool_sem_init(&slow_go, 0);
    spool_task *slow = spool_spawn(return_6_when_told, NULL);
    ck_assert_ptr_nonnull(slow);
    spool_task *joiner = spool_spawn(join_it, slow);
    ck_assert_ptr_nonnull(joiner);
    while (!atomic_load(&joiner_joining))
        spool_yield();
    ck_assert_int_eq(spool_detach(slow), -EINVAL);
    ck_assert_int_eq(spool_sem_release(&slow_go), 0);
    ck_assert_int_eq(spool_join(joiner), 6);
    wait_until_only_main();
    return 0;
}

START_TEST(detach_twice_or_of_a_task_being_joined_is_einval)
{
    ck_assert_int_eq(run_reporting(1, detach_misuse, NULL), 0);
    ck_assert_int_eq(atomic_load(&reports.count), 0);
}
END_TEST

static int join_after_detach(void *arg)
{
    (void)arg;
    spool_task *t = spool_spawn(fail_with, (void *)(intptr_t)1);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(spool_detach(t), 0);
    spool_join(t); /* must abort */
    return 0;
}

START_TEST(join_after_detach_aborts)
{
    run_on(detach_workers[_i], join_after_detach, NULL);
    ck_abort_msg("a join after spool_detach returned");
}
END_TEST

/* ---- the end of a run ---------------------------------------------------------------------------- */

struct blocked {
    atomic_int started;
    atomic_int cleaned;
    atomic_int bad;
    spool_event never;
    spool_sem empty;
    spool_lock held;
};

static struct blocked blocked;

enum { BLOCK_EVENT, BLOCK_SEM, BLOCK_SLEEP, BLOCK_LOCK, BLOCK_JOIN, BLOCK_KINDS };

static int block_forever(void *arg)
{
    int kind = (int)(intptr_t)arg;
    atomic_fetch_add(&blocked.started, 1);
    int rc;
    switch (kind) {
    case BLOCK_EVENT:
        rc = spool_event_wait(&blocked.never);
        break;
    case BLOCK_SEM:
        rc = spool_sem_acquire(&blocked.empty);
        break;
    case BLOCK_SLEEP:
        rc = spool_sleep_ms(100000);
        break;
    case BLOCK_LOCK:
        rc = spool_lock_acquire(&blocked.held);
        break;
    default: {
        /* Joins a child that waits forever: both are cancelled. */
        spool_task *child = spool_spawn(block_forever, (void *)(intptr_t)BLOCK_EVENT);
        rc = child ? spool_join(child) : -ENOMEM;
        break;
    }
    }
    if (rc != -ECANCELED) {
        atomic_fetch_add(&blocked.bad, 1);
        return rc;
    }
    /* Cleanup: later waits fail at once too (level-triggered). */
    if (spool_sleep_ms(100000) != -ECANCELED)
        atomic_fetch_add(&blocked.bad, 1);
    atomic_fetch_add(&blocked.cleaned, 1);
    return rc;
}

enum { PER_KIND = 8 };
#define BLOCKED_TASKS (2 * BLOCK_KINDS * PER_KIND)
/* Joiners also spawn a child each. */
#define BLOCKED_TOTAL (BLOCKED_TASKS + 2 * PER_KIND)

static int return_with_tasks_blocked(void *arg)
{
    (void)arg;
    ck_assert_int_eq(spool_lock_acquire(&blocked.held), 0); /* and never released */
    /* A first batch that is waiting when main returns, half detached... */
    for (int i = 0; i < BLOCK_KINDS * PER_KIND; i++) {
        spool_task *t = spool_spawn(block_forever, (void *)(intptr_t)(i % BLOCK_KINDS));
        ck_assert_ptr_nonnull(t);
        if (i % 2)
            ck_assert_int_eq(spool_detach(t), 0);
    }
    while (atomic_load(&blocked.started) < BLOCK_KINDS * PER_KIND + PER_KIND)
        spool_sleep_ms(1);
    spool_sleep_ms(2);
    /* ... and a second batch that has not even started. */
    for (int i = 0; i < BLOCK_KINDS * PER_KIND; i++) {
        spool_task *t = spool_spawn(block_forever, (void *)(intptr_t)(i % BLOCK_KINDS));
        ck_assert_ptr_nonnull(t);
        if (i % 2)
            ck_assert_int_eq(spool_detach(t), 0);
    }
    return 7;
}

START_TEST(tasks_blocked_forever_are_cancelled_and_clean_up_when_main_returns)
{
    memset(&blocked, 0, sizeof blocked);
    spool_event_init(&blocked.never);
    spool_sem_init(&blocked.empty, 0);
    spool_lock_init(&blocked.held);
    uint64_t t0 = spool_now_ns();
    ck_assert_int_eq(run_reporting(detach_workers[_i], return_with_tasks_blocked, NULL), 7);
    uint64_t took = spool_now_ns() - t0;
    ck_assert_msg(took < HANG_GUARD_NS, "spool_run took %llu ms", (unsigned long long)(took / SPOOL_MSEC));
    ck_assert_int_eq(atomic_load(&blocked.bad), 0);
    ck_assert_int_eq(atomic_load(&blocked.started), BLOCKED_TOTAL);
    ck_assert_int_eq(atomic_load(&blocked.cleaned), BLOCKED_TOTAL);
    ck_assert_int_eq(atomic_load(&reports.count), 0); /* cancellations, not failures */
}
END_TEST

struct shielded {
    atomic_int started;
    uint64_t slept_ns;
    int shielded_rc;
    int after_rc;
};

static struct shielded shielded;

static int sleep_in_a_shield(void *arg)
{
    (void)arg;
    ck_assert_int_eq(spool_shield_begin(), 0);
    atomic_store(&shielded.started, 1);
    uint64_t t0 = spool_now_ns();
    shielded.shielded_rc = spool_sleep_ms(200);
    shielded.slept_ns = spool_now_ns() - t0;
    ck_assert_int_eq(spool_shield_end(), 0);
    shielded.after_rc = spool_sleep_ms(100000);
    return 0;
}

static int return_during_a_shield(void *arg)
{
    (void)arg;
    spool_task *t = spool_spawn(sleep_in_a_shield, NULL);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(spool_detach(t), 0);
    while (!atomic_load(&shielded.started))
        spool_sleep_ms(1);
    return 3;
}

START_TEST(a_shielded_sleep_finishes_before_the_run_ends)
{
    memset(&shielded, 0, sizeof shielded);
    uint64_t t0 = spool_now_ns();
    ck_assert_int_eq(run_on(detach_workers[_i], return_during_a_shield, NULL), 3);
    uint64_t took = spool_now_ns() - t0;
    ck_assert_int_eq(shielded.shielded_rc, 0);
    ck_assert_uint_ge(shielded.slept_ns, 200 * SPOOL_MSEC);
    ck_assert_int_eq(shielded.after_rc, -ECANCELED);
    ck_assert_uint_ge(took, 200 * SPOOL_MSEC);
    ck_assert_uint_lt(took, HANG_GUARD_NS);
}
END_TEST

/* Tasks entering a wait just as main returns: a consumer parks on a
 * semaphore that its producer stops releasing once cancelled. A consumer
 * that parks after the shutdown's scan passed its record must still be
 * woken, or spool_run never returns (it did not, before the scan left
 * every record a token: about one run in a hundred on 2 workers). */
enum { RACE_PAIRS = 8 };
#define RACE_RUNS (SANITIZED ? 100 : 400)

static spool_sem race_sems[RACE_PAIRS];

static int race_consumer(void *arg)
{
    while (spool_sem_acquire(arg) == 0)
        ;
    return 0;
}

static int race_producer(void *arg)
{
    while (!spool_cancelled()) {
        spool_sem_release(arg);
        spool_yield();
    }
    return 0;
}

static int return_while_tasks_park(void *arg)
{
    (void)arg;
    for (int i = 0; i < RACE_PAIRS; i++) {
        spool_sem_init(&race_sems[i], 0);
        spool_task *c = spool_spawn(race_consumer, &race_sems[i]);
        spool_task *p = spool_spawn(race_producer, &race_sems[i]);
        ck_assert_ptr_nonnull(c);
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(spool_detach(c), 0);
        ck_assert_int_eq(spool_detach(p), 0);
    }
    spool_sleep_ms(1);
    return 0;
}

struct race_runner {
    unsigned workers;
    atomic_int runs;   /* runs finished */
    atomic_int failed;
};

static void *race_runs(void *arg)
{
    struct race_runner *r = arg;
    spool_config cfg = {.workers = r->workers};
    for (int i = 0; i < RACE_RUNS; i++) {
        if (spool_run(return_while_tasks_park, NULL, &cfg) != 0)
            atomic_fetch_add(&r->failed, 1);
        atomic_fetch_add(&r->runs, 1);
    }
    return NULL;
}

START_TEST(tasks_parking_as_main_returns_are_cancelled_too)
{
    static struct race_runner r;
    r.workers = detach_workers[_i];
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, race_runs, &r), 0);
    /* A watchdog: no run may take HANG_GUARD_NS (each takes a few ms). */
    int done_runs = -1;
    uint64_t last = spool_now_ns();
    while (atomic_load(&r.runs) < RACE_RUNS) {
        int now = atomic_load(&r.runs);
        if (now != done_runs) {
            done_runs = now;
            last = spool_now_ns();
        }
        ck_assert_msg(spool_now_ns() - last < HANG_GUARD_NS, "run %d of %d never returned", done_runs + 1, RACE_RUNS);
        usleep(1000);
    }
    pthread_join(th, NULL);
    ck_assert_int_eq(atomic_load(&r.failed), 0);
}
END_TEST

/* ---- names and the current task ------------------------------------------------------------------- */

struct named {
    spool_task *self;
    const char *name;
};

static int name_myself(void *arg)
{
    struct named *n = arg;
    n->self = spool_current();
    ck_assert_int_eq(spool_task_set_name(n->self, "self-named"), 0);
    n->name = spool_task_name(n->self);
    return 0;
}

struct name_job {
    spool_task *t;
    const char *name;
};

static int name_from_thread(void *arg)
{
    struct name_job *j = arg;
    return spool_task_set_name(j->t, j->name);
}

static const char *const some_names[] = {"alpha", "beta", "gamma", "delta", "epsilon"};

static int names(void *arg)
{
    (void)arg;
    ck_assert_ptr_null(spool_task_name(NULL));
    ck_assert_int_eq(spool_task_set_name(NULL, "x"), -EINVAL);

    spool_task *t = spool_spawn(fail_with, (void *)(intptr_t)1);
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_null(spool_task_name(t));
    ck_assert_int_eq(spool_task_set_name(t, "alpha"), 0);
    ck_assert_str_eq(spool_task_name(t), "alpha");
    ck_assert_int_eq(spool_task_set_name(t, "beta"), 0);
    ck_assert_str_eq(spool_task_name(t), "beta");
    ck_assert_int_eq(spool_task_set_name(t, NULL), 0);
    ck_assert_ptr_null(spool_task_name(t));
    ck_assert_int_eq(spool_task_set_name(t, NULL), 0); /* clearing nothing */
    ck_assert_int_eq(spool_task_set_name(t, "gamma"), 0);
    /* Kept after the task ended, until it is freed. */
    wait_finished(t);
    spool_sleep_ms(1);
    ck_assert_str_eq(spool_task_name(t), "gamma");
    ck_assert_int_eq(spool_join(t), 1);
    /* One worker: the freed record is the next one handed out, nameless. */
    spool_task *again = spool_spawn(fail_with, (void *)(intptr_t)2);
    ck_assert_uint_eq(record_of(again), record_of(t));
    ck_assert_ptr_null(spool_task_name(again));
    /* Set from a plain thread. */
    struct name_job j = {again, "from-a-thread"};
    ck_assert_int_eq(spool_to_thread(name_from_thread, &j), 0);
    ck_assert_str_eq(spool_task_name(again), "from-a-thread");
    ck_assert_int_eq(spool_join(again), 2);

    /* A detached task's name goes with its record too. */
    spool_task *d = spool_spawn(fail_with, (void *)(intptr_t)0);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(spool_task_set_name(d, "detached"), 0);
    ck_assert_int_eq(spool_detach(d), 0);
    wait_until_only_main();
    spool_task *next = spool_spawn(fail_with, (void *)(intptr_t)3);
    ck_assert_uint_eq(record_of(next), record_of(d));
    ck_assert_ptr_null(spool_task_name(next));
    ck_assert_int_eq(spool_join(next), 3);

    /* A task names itself; spool_current is the spawned task. */
    struct named n = {0};
    spool_task *self = spool_spawn(name_myself, &n);
    ck_assert_ptr_nonnull(self);
    wait_finished(self);
    ck_assert_ptr_eq(n.self, self);
    ck_assert_str_eq(n.name, "self-named");
    ck_assert_str_eq(spool_task_name(self), "self-named");
    ck_assert_int_eq(spool_join(self), 0);

    /* Many at once: each keeps its own. */
    enum { MANY = 1000 };
    static spool_task *many[MANY];
    for (int i = 0; i < MANY; i++) {
        ck_assert_ptr_nonnull(many[i] = spool_spawn(fail_with, (void *)(intptr_t)i));
        ck_assert_int_eq(spool_task_set_name(many[i], some_names[i % 5]), 0);
    }
    for (int i = 0; i < MANY; i++)
        ck_assert_str_eq(spool_task_name(many[i]), some_names[i % 5]);
    ck_assert_int_eq(spool_gather(many, MANY, NULL), 0);
    return 0;
}

START_TEST(names_are_set_read_and_cleared_and_last_until_the_record_is_freed)
{
    ck_assert_int_eq(run_reporting(1, names, NULL), 0);
}
END_TEST

static int current_everywhere(void *arg)
{
    spool_task **main_task = arg;
    *main_task = spool_current();
    ck_assert_ptr_nonnull(*main_task);
    enum { N = 64 };
    struct named n[N];
    spool_task *t[N];
    memset(n, 0, sizeof n);
    for (int i = 0; i < N; i++)
        ck_assert_ptr_nonnull(t[i] = spool_spawn(name_myself, &n[i]));
    for (int i = 0; i < N; i++)
        wait_finished(t[i]);
    for (int i = 0; i < N; i++)
        ck_assert_ptr_eq(n[i].self, t[i]);
    ck_assert_int_eq(spool_gather(t, N, NULL), 0);
    ck_assert_ptr_eq(spool_current(), *main_task);
    return 0;
}

START_TEST(spool_current_is_the_calling_task_or_null_outside)
{
    ck_assert_ptr_null(spool_current());
    spool_task *main_task = NULL;
    ck_assert_int_eq(run_on(detach_workers[_i], current_everywhere, &main_task), 0);
    ck_assert_ptr_nonnull(main_task);
    ck_assert_ptr_null(spool_current());
}
END_TEST

/* ---- runner ------------------------------------------------------------------------------------------ */

static Suite *detach_suite(void)
{
    Suite *s = suite_create("detach");
    ADD_LOOP_TEST(s, detached_tasks_records_are_freed_at_exit, 3);
    ADD_LOOP_TEST(s, a_detached_failure_calls_on_task_error_once_with_the_task_and_result, 3);
    ADD_LOOP_TEST(s, only_failures_are_reported_not_results_nor_the_ecanceled_of_a_cancellation, 3);
    ADD_TEST(s, the_default_report_is_a_line_on_stderr_naming_the_task);
    ADD_TEST(s, detaching_a_finished_task_frees_it_and_reports_its_failure);
    ADD_TEST(s, detach_twice_or_of_a_task_being_joined_is_einval);
    {
        TCase *tc = tcase_create("join_after_detach_aborts");
        tcase_add_loop_test_raise_signal(tc, join_after_detach_aborts, SIGABRT, 0, 3);
        suite_add_tcase(s, tc);
    }
    ADD_LOOP_TEST(s, tasks_blocked_forever_are_cancelled_and_clean_up_when_main_returns, 3);
    ADD_LOOP_TEST(s, a_shielded_sleep_finishes_before_the_run_ends, 3);
    ADD_LOOP_TEST(s, tasks_parking_as_main_returns_are_cancelled_too, 3);
    ADD_TEST(s, names_are_set_read_and_cleared_and_last_until_the_record_is_freed);
    ADD_LOOP_TEST(s, spool_current_is_the_calling_task_or_null_outside, 3);
    return s;
}

int main(void)
{
    return check_main(detach_suite, 120);
}
