/*
 * test_stats.c — observability (runtime/runtime.c spool_stats and the
 * debug reports, runtime/scheduler.c debug_ran): spawned, exited and alive
 * after spawns and joins (local and from a plain thread), parked and
 * woken under a semaphore ping-pong, stolen after a CPU-heavy fan-out,
 * idle while workers sleep, cpu_yields while a worker runs tasks without
 * a pause; in debug mode, a task that runs 150 ms
 * without a wait point and a task never joined nor detached are reported
 * on stderr, and with debug off nothing is.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <spool/spool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_util.h"

static const unsigned stats_workers[] = {1, 2, 4};

/* Each total is the sum of the workers' figures of the same snapshot. */
/* A snapshot once alive is down to main (up to HANG_GUARD_NS). A worker counts a
 * task's exit just after waking its joiner (scheduler.c, finish_task), so
 * right after a join returns, the joined task may still count as alive
 * for a moment: seen here after spool_join_blocking in about one run in
 * six on 2 workers. */
static struct spool_stats *settled(void)
{
    struct spool_stats *st = stats_snap();
    uint64_t until = spool_now_ns() + HANG_GUARD_NS;
    while (st->alive != 1 && spool_now_ns() < until) {
        free(st);
        spool_sleep_ms(1);
        st = stats_snap();
    }
    return st;
}

static void check_sums(const struct spool_stats *st)
{
    spool_worker_stats sum = {0};
    for (unsigned i = 0; i < st->workers; i++) {
        sum.spawned += st->worker[i].spawned;
        sum.exited += st->worker[i].exited;
        sum.stolen += st->worker[i].stolen;
        sum.parked += st->worker[i].parked;
        sum.woken += st->worker[i].woken;
        sum.idle += st->worker[i].idle;
        sum.cpu_yields += st->worker[i].cpu_yields;
    }
    ck_assert_uint_eq(sum.spawned, st->total.spawned);
    ck_assert_uint_eq(sum.exited, st->total.exited);
    ck_assert_uint_eq(sum.stolen, st->total.stolen);
    ck_assert_uint_eq(sum.parked, st->total.parked);
    ck_assert_uint_eq(sum.woken, st->total.woken);
    ck_assert_uint_eq(sum.idle, st->total.idle);
    ck_assert_uint_eq(sum.cpu_yields, st->total.cpu_yields);
    for (unsigned i = st->workers; i < SPOOL_MAX_WORKERS; i++)
        ck_assert_uint_eq(st->worker[i].spawned + st->worker[i].exited + st->worker[i].idle, 0);
}

/* ---- spawned, exited, alive ------------------------------------------------------- */

#define COUNTED_TASKS 1000

static int maybe_yield(void *arg)
{
    if ((intptr_t)arg % 3 == 0)
        spool_yield();
    return 0;
}

struct remote {
    spool_runtime *rt;
    spool_event go;       /* main: the thread's tasks may end */
    spool_event spawned;  /* the thread: its tasks are spawned */
    int failures;
};

enum { REMOTE_TASKS = 10 };

static int wait_go(void *arg)
{
    return spool_event_wait(&((struct remote *)arg)->go);
}

static void *spawn_remote(void *arg)
{
    struct remote *r = arg;
    spool_task *t[REMOTE_TASKS];
    for (int i = 0; i < REMOTE_TASKS; i++)
        if (!(t[i] = spool_spawn_on(r->rt, wait_go, r)))
            r->failures++;
    spool_event_set(&r->spawned);
    for (int i = 0; i < REMOTE_TASKS; i++)
        if (t[i] && spool_join_blocking(t[i]) != 0)
            r->failures++;
    return NULL;
}

static int count_tasks(void *arg)
{
    unsigned workers = (unsigned)(uintptr_t)arg;
    struct spool_stats *before = stats_snap();
    check_sums(before);
    ck_assert_uint_eq(before->workers, workers);
    ck_assert_uint_eq(before->alive, 1); /* main */
    ck_assert_uint_ge(before->total.spawned, 1);

    static spool_task *t[COUNTED_TASKS];
    for (int i = 0; i < COUNTED_TASKS; i++)
        ck_assert_ptr_nonnull(t[i] = spool_spawn(maybe_yield, (void *)(intptr_t)i));
    struct spool_stats *mid = stats_snap();
    ck_assert_uint_ge(mid->total.spawned, before->total.spawned + COUNTED_TASKS);
    ck_assert_uint_ge(mid->alive, 1);
    ck_assert_int_eq(spool_gather(t, COUNTED_TASKS, NULL), 0);
    struct spool_stats *after = settled();
    check_sums(after);
    ck_assert_uint_ge(after->total.spawned, before->total.spawned + COUNTED_TASKS);
    ck_assert_uint_ge(after->total.exited, before->total.exited + COUNTED_TASKS);
    ck_assert_uint_eq(after->alive, 1);

    /* Tasks spawned from a plain thread count as alive too. */
    struct remote r = {.rt = spool_runtime_current()};
    spool_event_init(&r.go);
    spool_event_init(&r.spawned);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, spawn_remote, &r), 0);
    ck_assert_int_eq(spool_event_wait(&r.spawned), 0);
    struct spool_stats *busy = stats_snap();
    ck_assert_uint_eq(busy->alive, 1 + REMOTE_TASKS);
    ck_assert_int_eq(spool_event_set(&r.go), 0);
    ck_assert_int_eq(spool_to_thread(join_thread, &th), 0);
    ck_assert_int_eq(r.failures, 0);
    struct spool_stats *end = settled();
    check_sums(end);
    ck_assert_uint_eq(end->alive, 1);
    ck_assert_uint_ge(end->total.exited, after->total.exited + REMOTE_TASKS);

    ck_assert_int_eq(spool_stats(NULL), -EINVAL);
    free(before);
    free(mid);
    free(after);
    free(busy);
    free(end);
    return 0;
}

START_TEST(spawned_exited_and_alive_count_the_tasks)
{
    struct spool_stats st;
    ck_assert_int_eq(spool_stats(&st), -EPERM);
    unsigned w = stats_workers[_i];
    ck_assert_int_eq(run_on(w, count_tasks, (void *)(uintptr_t)w), 0);
}
END_TEST

/* ---- parked and woken --------------------------------------------------------------- */

#define PINGPONG_ROUNDS 1000

struct pingpong {
    spool_sem ping, pong;
};

static int pong(void *arg)
{
    struct pingpong *p = arg;
    for (int i = 0; i < PINGPONG_ROUNDS; i++) {
        REQUIRE(spool_sem_acquire(&p->ping) == 0);
        REQUIRE(spool_sem_release(&p->pong) == 0);
    }
    return 0;
}

static int ping_pong(void *arg)
{
    unsigned workers = (unsigned)(uintptr_t)arg;
    struct pingpong p;
    spool_sem_init(&p.ping, 0);
    spool_sem_init(&p.pong, 0);
    struct spool_stats *before = stats_snap();
    spool_task *t = spool_spawn(pong, &p);
    ck_assert_ptr_nonnull(t);
    for (int i = 0; i < PINGPONG_ROUNDS; i++) {
        REQUIRE(spool_sem_release(&p.ping) == 0);
        REQUIRE(spool_sem_acquire(&p.pong) == 0);
    }
    ck_assert_int_eq(spool_join(t), 0);
    struct spool_stats *after = stats_snap();
    check_sums(after);
    uint64_t parked = after->total.parked - before->total.parked;
    uint64_t woken = after->total.woken - before->total.woken;
    free(before);
    free(after);
    if (workers == 1) {
        /* One of the pair waits for the other in every round. */
        ck_assert_msg(parked >= PINGPONG_ROUNDS, "parked grew by %llu", (unsigned long long)parked);
        ck_assert_msg(woken >= PINGPONG_ROUNDS, "woken grew by %llu", (unsigned long long)woken);
    } else {
        ck_assert_uint_gt(parked, 0);
        ck_assert_uint_gt(woken, 0);
    }
    /* Sleeps park too. */
    before = stats_snap();
    for (int i = 0; i < 10; i++)
        spool_sleep_ms(1);
    after = stats_snap();
    ck_assert_uint_ge(after->total.parked - before->total.parked, 10);
    free(before);
    free(after);
    return 0;
}

START_TEST(parked_and_woken_grow_with_a_semaphore_ping_pong)
{
    unsigned w = stats_workers[_i];
    ck_assert_int_eq(run_on(w, ping_pong, (void *)(uintptr_t)w), 0);
}
END_TEST

/* ---- stolen, idle ----------------------------------------------------------------------- */

static int spin_2ms(void *arg)
{
    (void)arg;
    spin_ns(2 * SPOOL_MSEC);
    return 0;
}

static int fan_out(void *arg)
{
    (void)arg;
    enum { FAN = 16 };
    for (int round = 0; round < 200; round++) {
        spool_task *t[FAN];
        for (int i = 0; i < FAN; i++)
            ck_assert_ptr_nonnull(t[i] = spool_spawn(spin_2ms, NULL));
        ck_assert_int_eq(spool_gather(t, FAN, NULL), 0);
        struct spool_stats *st = stats_snap();
        check_sums(st);
        uint64_t stolen = st->total.stolen;
        free(st);
        if (stolen > 0)
            return round;
    }
    ck_abort_msg("200 fan-outs on 2 workers and nothing was ever stolen");
    return -1;
}

START_TEST(stolen_grows_after_a_cpu_heavy_fan_out)
{
    ck_assert_int_ge(run_on(2, fan_out, NULL), 0);
}
END_TEST

static int sleep_idle(void *arg)
{
    (void)arg;
    struct spool_stats *before = stats_snap();
    for (int i = 0; i < 5; i++)
        spool_sleep_ms(20);
    struct spool_stats *after = stats_snap();
    check_sums(after);
    ck_assert_uint_gt(after->total.idle, before->total.idle);
    /* Every worker slept at some point. */
    for (unsigned i = 0; i < after->workers; i++)
        ck_assert_uint_gt(after->worker[i].idle, 0);
    free(before);
    free(after);
    return 0;
}

START_TEST(idle_grows_while_the_workers_sleep)
{
    ck_assert_int_eq(run_on(stats_workers[_i], sleep_idle, NULL), 0);
}
END_TEST

/* A worker that never runs out of tasks (main yields in a loop for 20 ms
 * by the clock) gives its CPU to the kernel now and then (every 500 us at
 * most): at least once, however slow the machine. */
static int yield_for_20ms(void *arg)
{
    (void)arg;
    struct spool_stats *before = stats_snap();
    uint64_t until = spool_now_ns() + 20 * SPOOL_MSEC;
    while (spool_now_ns() < until)
        ck_assert_int_eq(spool_yield(), 0);
    struct spool_stats *after = stats_snap();
    check_sums(after);
    ck_assert_uint_gt(after->total.cpu_yields, before->total.cpu_yields);
    free(before);
    free(after);
    return 0;
}

START_TEST(cpu_yields_grow_while_a_worker_never_runs_out_of_tasks)
{
    ck_assert_int_eq(run_on(stats_workers[_i], yield_for_20ms, NULL), 0);
}
END_TEST

/* ---- debug reports ---------------------------------------------------------------------- */

static int busy_150ms(void *arg)
{
    (void)arg;
    spin_ns(150 * SPOOL_MSEC);
    return 0;
}

/* The longest the polite task ran between two wait points, by the wall
 * clock (as the runtime measures it): on a loaded machine its thread may
 * be off the CPU for over 100 ms in a 5 ms stretch, and then a report of
 * it is the truth. */
static uint64_t polite_longest_run;

/* As long, but with a wait point every 5 ms. */
static int busy_150ms_politely(void *arg)
{
    (void)arg;
    uint64_t now = spool_now_ns(), until = now + 150 * SPOOL_MSEC;
    polite_longest_run = 0;
    while (now < until) {
        uint64_t from = spool_now_ns();
        spin_ns(5 * SPOOL_MSEC);
        now = spool_now_ns();
        if (now - from > polite_longest_run)
            polite_longest_run = now - from;
        spool_yield();
    }
    return 0;
}

static int debug_workload(void *arg)
{
    (void)arg;
    spool_task *hog = spool_spawn(busy_150ms, NULL);
    spool_task *polite = spool_spawn(busy_150ms_politely, NULL);
    spool_task *orphan = spool_spawn(return_arg, (void *)(intptr_t)5);
    spool_task *joined = spool_spawn(return_arg, (void *)(intptr_t)6);
    spool_task *detached = spool_spawn(return_arg, (void *)(intptr_t)7);
    ck_assert_ptr_nonnull(hog);
    ck_assert_ptr_nonnull(polite);
    ck_assert_ptr_nonnull(orphan);
    ck_assert_ptr_nonnull(joined);
    ck_assert_ptr_nonnull(detached);
    ck_assert_int_eq(spool_task_set_name(hog, "the-hog"), 0);
    ck_assert_int_eq(spool_task_set_name(polite, "the-polite-one"), 0);
    ck_assert_int_eq(spool_task_set_name(orphan, "the-orphan"), 0);
    ck_assert_int_eq(spool_task_set_name(joined, "the-joined-one"), 0);
    ck_assert_int_eq(spool_task_set_name(detached, "the-detached-one"), 0);
    ck_assert_int_eq(spool_detach(detached), 0);
    ck_assert_int_eq(spool_join(hog), 0);
    ck_assert_int_eq(spool_join(polite), 0);
    ck_assert_int_eq(spool_join(joined), 6);
    /* The orphan is left: it has finished by now, or will before the end. */
    return 0;
}

/* Runs debug_workload with the given debug setting and SPOOL_DEBUG value
 * (NULL: unset); returns stderr's text. */
static char *run_debug(unsigned workers, int debug, const char *env)
{
    if (env)
        setenv("SPOOL_DEBUG", env, 1);
    else
        unsetenv("SPOOL_DEBUG");
    spool_config cfg = {.workers = workers, .debug = debug};
    struct capture c;
    capture_begin(&c);
    int rc = spool_run(debug_workload, NULL, &cfg);
    char *err = capture_end(&c);
    unsetenv("SPOOL_DEBUG");
    ck_assert_int_eq(rc, 0);
    return err;
}

static int count_lines_with(const char *text, const char *needle)
{
    int n = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[512];
        snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf - 1 ? len : sizeof buf - 1), line);
        if (strstr(buf, needle))
            n++;
        line += len + (end != NULL);
    }
    return n;
}

static int line_with_both(const char *text, const char *a, const char *b)
{
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[512];
        snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf - 1 ? len : sizeof buf - 1), line);
        if (strstr(buf, a) && strstr(buf, b))
            return 1;
        line += len + (end != NULL);
    }
    return 0;
}

static void check_debug_reports(const char *err)
{
    ck_assert_msg(line_with_both(err, "the-hog", "without reaching a wait point"), "stderr: %s", err);
    /* The polite one is reported only if it really ran that long between
     * two yields (its thread off the CPU): a margin of half the threshold
     * for the stretch between its clock reads and the runtime's. Other
     * tasks may be reported on a loaded machine for the same reason. */
    if (polite_longest_run < SPOOL_DEBUG_SLOW_NS / 2)
        ck_assert_msg(!line_with_both(err, "the-polite-one", "without reaching a wait point"),
                      "stderr: %s", err);
    ck_assert_msg(line_with_both(err, "the-orphan", "never joined nor detached"), "stderr: %s", err);
    ck_assert_msg(count_lines_with(err, "never joined nor detached") == 1, "stderr: %s", err);
}

START_TEST(debug_mode_reports_a_slow_task_and_a_task_never_joined)
{
    char *err = run_debug(stats_workers[_i], 1, NULL);
    check_debug_reports(err);
    free(err);
}
END_TEST

START_TEST(spool_debug_1_in_the_environment_turns_debug_mode_on)
{
    char *err = run_debug(2, 0, "1");
    check_debug_reports(err);
    free(err);
}
END_TEST

START_TEST(without_debug_mode_nothing_is_reported)
{
    char *err = run_debug(stats_workers[_i], 0, NULL);
    ck_assert_msg(err[0] == 0, "stderr: %s", err);
    free(err);
    err = run_debug(2, 0, "0");
    ck_assert_msg(err[0] == 0, "stderr: %s", err);
    free(err);
}
END_TEST

/* ---- runner -------------------------------------------------------------------------------- */

static Suite *stats_suite(void)
{
    Suite *s = suite_create("stats");
    ADD_LOOP_TEST(s, spawned_exited_and_alive_count_the_tasks, 3);
    ADD_LOOP_TEST(s, parked_and_woken_grow_with_a_semaphore_ping_pong, 3);
    ADD_TEST(s, stolen_grows_after_a_cpu_heavy_fan_out);
    ADD_LOOP_TEST(s, idle_grows_while_the_workers_sleep, 3);
    ADD_LOOP_TEST(s, cpu_yields_grow_while_a_worker_never_runs_out_of_tasks, 3);
    ADD_LOOP_TEST(s, debug_mode_reports_a_slow_task_and_a_task_never_joined, 3);
    ADD_TEST(s, spool_debug_1_in_the_environment_turns_debug_mode_on);
    ADD_LOOP_TEST(s, without_debug_mode_nothing_is_reported, 3);
    return s;
}

int main(void)
{
    return check_main(stats_suite, 120);
}
