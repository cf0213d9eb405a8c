/*
 * test_threads.c — the runtime and other threads (runtime/blocking.c,
 * runtime/remote.c): spool_to_thread (another thread, only the caller
 * suspended, the pool's cap, idle threads retiring, cancellation before
 * and during a call), spool_runtime_current, spool_spawn_on and
 * spool_join_blocking from plain threads and from tasks, spawn_on refused
 * once main has returned, and wake-ups sent by plain threads (semaphore,
 * event, cancellation) to parked tasks.
 *
 * Plain threads that use a runtime are joined before its main returns
 * (main joins them through spool_to_thread), so none touches a runtime
 * that spool_run has freed.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <spool/spool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "check_util.h"

static const unsigned thread_workers[] = {1, 2, 4};

static pid_t tid_now(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static void sleep_us(unsigned us)
{
    struct timespec ts = {us / 1000000u, (long)(us % 1000000u) * 1000};
    nanosleep(&ts, NULL);
}

/* The thread ids of this process now (at most max); returns how many. */
static int list_tids(pid_t *out, int max)
{
    DIR *d = opendir("/proc/self/task");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n < max)
            out[n] = (pid_t)atoi(e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

static int count_threads(void)
{
    pid_t tids[1024];
    return list_tids(tids, 1024);
}

/* ---- spool_to_thread: where fn runs ---------------------------------------- */

struct where {
    pthread_t caller;
    pthread_t thread;
    pid_t tid;
    int in_task;
    spool_runtime *rt;
};

static int record_where(void *arg)
{
    struct where *w = arg;
    w->thread = pthread_self();
    w->tid = tid_now();
    w->in_task = spool_in_task();
    w->rt = spool_runtime_current();
    return 42;
}

static int call_and_record(void *arg)
{
    struct where *w = arg;
    w->caller = pthread_self();
    return spool_to_thread(record_where, w);
}

static int to_thread_elsewhere(void *arg)
{
    (void)arg;
    /* Every worker exists before main runs: these are them (and whatever
     * else the process had, a sanitizer's threads for instance). */
    pid_t before[1024];
    int n = list_tids(before, 1024);
    ck_assert_int_lt(n, 1024);
    ck_assert_int_ge(n, spool_workers());
    enum { CALLERS = 16 };
    struct where w[CALLERS];
    spool_task *t[CALLERS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < CALLERS; i++)
        ck_assert_ptr_nonnull(t[i] = spool_spawn(call_and_record, &w[i]));
    int r[CALLERS];
    ck_assert_int_eq(spool_gather(t, CALLERS, r), 0);
    for (int i = 0; i < CALLERS; i++) {
        ck_assert_int_eq(r[i], 42);
        ck_assert(!pthread_equal(w[i].thread, w[i].caller));
        ck_assert_int_eq(w[i].in_task, 0);
        ck_assert_ptr_null(w[i].rt);
        for (int k = 0; k < n; k++)
            ck_assert_int_ne(w[i].tid, before[k]);
    }
    return 0;
}

START_TEST(to_thread_runs_fn_on_a_thread_that_is_not_a_worker)
{
    ck_assert_int_eq(run_on(thread_workers[_i], to_thread_elsewhere, NULL), 0);
}
END_TEST

/* ---- spool_to_thread suspends only the caller ------------------------------ */

struct ticker {
    atomic_int stop;
    atomic_long ticks;
};

static int tick(void *arg)
{
    struct ticker *tk = arg;
    while (!atomic_load(&tk->stop)) {
        atomic_fetch_add(&tk->ticks, 1);
        spool_yield();
    }
    return 0;
}

static int sleep_50ms_then_7(void *arg)
{
    (void)arg;
    sleep_us(50 * 1000);
    return 7;
}

static int only_the_caller_waits(void *arg)
{
    (void)arg;
    struct ticker tk = {0};
    spool_task *t = spool_spawn(tick, &tk);
    ck_assert_ptr_nonnull(t);
    while (atomic_load(&tk.ticks) == 0)
        spool_sleep_ms(1);
    long before = atomic_load(&tk.ticks);
    uint64_t t0 = spool_now_ns();
    ck_assert_int_eq(spool_to_thread(sleep_50ms_then_7, NULL), 7);
    uint64_t took = spool_now_ns() - t0;
    long during = atomic_load(&tk.ticks) - before;
    atomic_store(&tk.stop, 1);
    ck_assert_int_eq(spool_join(t), 0);
    ck_assert_uint_ge(took, 50 * SPOOL_MSEC);
    /* On one worker too: the worker ran the ticker while fn slept. */
    ck_assert_msg(during >= 10, "the ticker advanced %ld times during the call", during);
    return 0;
}

START_TEST(to_thread_suspends_only_the_calling_task)
{
    ck_assert_int_eq(run_on(thread_workers[_i], only_the_caller_waits, NULL), 0);
}
END_TEST

/* ---- the pool's cap ---------------------------------------------------------- */

struct inside {
    atomic_int now;
    atomic_int max;
};

static struct inside inside_count;

static int count_inside(void *arg)
{
    int cur = atomic_fetch_add(&inside_count.now, 1) + 1;
    int m = atomic_load(&inside_count.max);
    while (cur > m && !atomic_compare_exchange_weak(&inside_count.max, &m, cur))
        ;
    sleep_us(1000);
    atomic_fetch_sub(&inside_count.now, 1);
    return (int)(intptr_t)arg;
}

static int call_count_inside(void *arg)
{
    return spool_to_thread(count_inside, arg);
}

#define CAP_CALLS (SANITIZED ? 100 : 200)

static int many_calls(void *arg)
{
    (void)arg;
    static spool_task *t[CAP_CALLS];
    static int r[CAP_CALLS];
    for (int i = 0; i < CAP_CALLS; i++)
        ck_assert_ptr_nonnull(t[i] = spool_spawn(call_count_inside, (void *)(intptr_t)(i * 3)));
    ck_assert_int_eq(spool_gather(t, CAP_CALLS, r), 0);
    for (int i = 0; i < CAP_CALLS; i++)
        ck_assert_int_eq(r[i], i * 3);
    return 0;
}

START_TEST(many_concurrent_calls_complete_and_never_exceed_the_cap)
{
    static const unsigned caps[] = {1, 4, 16};
    for (unsigned c = 0; c < 3; c++) {
        atomic_store(&inside_count.now, 0);
        atomic_store(&inside_count.max, 0);
        spool_config cfg = {.workers = thread_workers[_i], .blocking_threads = caps[c]};
        ck_assert_int_eq(spool_run(many_calls, NULL, &cfg), 0);
        int max = atomic_load(&inside_count.max);
        ck_assert_msg(max <= (int)caps[c], "cap %u, %d calls inside at once", caps[c], max);
        if (caps[c] > 1)
            ck_assert_msg(max >= 2, "cap %u: the calls never overlapped", caps[c]);
    }
}
END_TEST

START_TEST(the_default_cap_holds_too)
{
    atomic_store(&inside_count.now, 0);
    atomic_store(&inside_count.max, 0);
    ck_assert_int_eq(run_on(2, many_calls, NULL), 0);
    int max = atomic_load(&inside_count.max);
    ck_assert_int_le(max, (int)SPOOL_DEFAULT_BLOCKING_THREADS);
    ck_assert_int_ge(max, 2);
}
END_TEST

/* Two calls in flight, one waiting for the other, with one idle thread
 * in the pool: under the cap, each call must get a thread of its own (an
 * idle thread serves one call, not every call queued while it wakes up),
 * or the first holds the only thread while the second waits behind it. */
struct dependent {
    atomic_int b_ran;
};

static int wait_for_b(void *arg)
{
    struct dependent *d = arg;
    uint64_t until = spool_now_ns() + HANG_GUARD_NS;
    while (!atomic_load(&d->b_ran) && spool_now_ns() < until)
        sleep_us(100);
    return atomic_load(&d->b_ran);
}

static int run_b(void *arg)
{
    atomic_store(&((struct dependent *)arg)->b_ran, 1);
    return 1;
}

static int call_wait_for_b(void *arg)
{
    return spool_to_thread(wait_for_b, arg);
}

static int call_run_b(void *arg)
{
    return spool_to_thread(run_b, arg);
}

#define DEPENDENT_ROUNDS (SANITIZED ? 20 : 50)

static int dependent_calls(void *arg)
{
    (void)arg;
    for (int round = 0; round < DEPENDENT_ROUNDS; round++) {
        /* A thread that has gone idle. */
        ck_assert_int_eq(spool_to_thread(return_arg, NULL), 0);
        spool_sleep_ms(1);
        struct dependent d = {0};
        /* Newest first: on one worker, a submits its call first. */
        spool_task *b = spool_spawn(call_run_b, &d);
        spool_task *a = spool_spawn(call_wait_for_b, &d);
        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_nonnull(b);
        ck_assert_int_eq(spool_join(b), 1);
        ck_assert_msg(spool_join(a) == 1, "round %d: the second call waited behind the first", round);
    }
    return 0;
}

START_TEST(calls_in_flight_each_get_a_thread_under_the_cap)
{
    spool_config cfg = {.workers = thread_workers[_i], .blocking_threads = 4};
    ck_assert_int_eq(spool_run(dependent_calls, NULL, &cfg), 0);
}
END_TEST

/* ---- idle threads retire ----------------------------------------------------- */

enum { RETIRE_THREADS = 8 };

struct rendezvous {
    atomic_int arrived;
    atomic_int most_threads; /* the most threads the process had, seen from inside */
};

/* Waits (up to 5 s) until all RETIRE_THREADS calls are inside at once:
 * then the pool has that many threads. Returns 1 if they all were. */
static int meet_all(void *arg)
{
    struct rendezvous *rv = arg;
    atomic_fetch_add(&rv->arrived, 1);
    uint64_t until = spool_now_ns() + HANG_GUARD_NS;
    while (atomic_load(&rv->arrived) < RETIRE_THREADS && spool_now_ns() < until)
        sleep_us(200);
    int n = count_threads();
    int m = atomic_load(&rv->most_threads);
    while (n > m && !atomic_compare_exchange_weak(&rv->most_threads, &m, n))
        ;
    return atomic_load(&rv->arrived) >= RETIRE_THREADS;
}

static int call_meet_all(void *arg)
{
    return spool_to_thread(meet_all, arg);
}

/* Polls until the process is back to `want` threads (up to HANG_GUARD_NS). */
static int wait_for_threads(int want)
{
    uint64_t until = spool_now_ns() + HANG_GUARD_NS;
    int n;
    while ((n = count_threads()) > want && spool_now_ns() < until)
        spool_sleep_ms(5);
    return n;
}

static int pool_grows_and_shrinks(void *arg)
{
    (void)arg;
    int base = count_threads();
    for (int round = 0; round < 2; round++) {
        struct rendezvous rv = {0};
        spool_task *t[RETIRE_THREADS];
        for (int i = 0; i < RETIRE_THREADS; i++)
            ck_assert_ptr_nonnull(t[i] = spool_spawn(call_meet_all, &rv));
        int r[RETIRE_THREADS];
        ck_assert_int_eq(spool_gather(t, RETIRE_THREADS, r), 0);
        for (int i = 0; i < RETIRE_THREADS; i++)
            ck_assert_msg(r[i] == 1, "round %d: the %d calls never ran at once", round, RETIRE_THREADS);
        ck_assert_int_ge(atomic_load(&rv.most_threads), base + RETIRE_THREADS);
        /* Idle 20 ms: they all retire. */
        int n = wait_for_threads(base);
        ck_assert_msg(n == base, "round %d: %d threads, %d before the calls", round, n, base);
    }
    /* And the pool starts threads again afterwards. */
    ck_assert_int_eq(spool_to_thread(return_arg, (void *)(intptr_t)5), 5);
    return 0;
}

START_TEST(idle_pool_threads_retire)
{
    spool_config cfg = {.workers = 2, .blocking_threads = RETIRE_THREADS, .blocking_idle_ns = 20 * SPOOL_MSEC};
    ck_assert_int_eq(spool_run(pool_grows_and_shrinks, NULL, &cfg), 0);
}
END_TEST

/* ---- cancellation ------------------------------------------------------------- */

static atomic_int fn_ran;

static int mark_ran(void *arg)
{
    (void)arg;
    atomic_store(&fn_ran, 1);
    return 3;
}

static int cancelled_caller(void *arg)
{
    (void)arg;
    ck_assert_int_eq(spool_task_cancel(spool_current()), 0);
    return spool_to_thread(mark_ran, NULL);
}

static int cancel_before(void *arg)
{
    (void)arg;
    atomic_store(&fn_ran, 0);
    spool_task *t = spool_spawn(cancelled_caller, NULL);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(spool_join(t), -ECANCELED);
    ck_assert_int_eq(atomic_load(&fn_ran), 0);
    /* The same from outside: cancelled before it ever ran. */
    t = spool_spawn(cancelled_caller, NULL);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(spool_task_cancel(t), 0);
    ck_assert_int_eq(spool_join(t), -ECANCELED);
    ck_assert_int_eq(atomic_load(&fn_ran), 0);
    return 0;
}

START_TEST(a_cancelled_task_gets_ecanceled_and_fn_never_runs)
{
    ck_assert_int_eq(run_on(thread_workers[_i], cancel_before, NULL), 0);
}
END_TEST

struct mid_call {
    atomic_int started;
    int call_rc;
    int next_wait_rc;
};

static int started_then_sleep(void *arg)
{
    struct mid_call *m = arg;
    atomic_store(&m->started, 1);
    sleep_us(5 * 1000);
    return 1234;
}

static int call_then_wait(void *arg)
{
    struct mid_call *m = arg;
    m->call_rc = spool_to_thread(started_then_sleep, m);
    m->next_wait_rc = spool_sleep_ms(10 * 1000);
    return 0;
}

#define MID_ROUNDS (SANITIZED ? 10 : 30)

static int cancel_during(void *arg)
{
    (void)arg;
    for (int round = 0; round < MID_ROUNDS; round++) {
        struct mid_call m = {0};
        spool_task *t = spool_spawn(call_then_wait, &m);
        ck_assert_ptr_nonnull(t);
        while (!atomic_load(&m.started))
            spool_yield();
        ck_assert_int_eq(spool_task_cancel(t), 0);
        ck_assert_int_eq(spool_join(t), 0);
        ck_assert_int_eq(m.call_rc, 1234);
        ck_assert_int_eq(m.next_wait_rc, -ECANCELED);
    }
    return 0;
}

START_TEST(a_cancellation_during_the_call_waits_for_fn_and_hits_the_next_wait)
{
    ck_assert_int_eq(run_on(thread_workers[_i], cancel_during, NULL), 0);
}
END_TEST

/* main returns while a task is inside spool_to_thread: the run waits for
 * the call, and the task's next wait is cancelled. */
static struct mid_call at_exit;

static int return_during_a_call(void *arg)
{
    (void)arg;
    spool_task *t = spool_spawn(call_then_wait, &at_exit);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(spool_detach(t), 0);
    while (!atomic_load(&at_exit.started))
        spool_yield();
    return 9;
}

START_TEST(shutdown_waits_for_a_call_in_flight)
{
    memset(&at_exit, 0, sizeof at_exit);
    ck_assert_int_eq(run_on(2, return_during_a_call, NULL), 9);
    ck_assert_int_eq(at_exit.call_rc, 1234);
    ck_assert_int_eq(at_exit.next_wait_rc, -ECANCELED);
}
END_TEST

static void *plain_to_thread(void *arg)
{
    *(int *)arg = spool_to_thread(return_arg, NULL);
    return NULL;
}

static int bad_calls(void *arg)
{
    (void)arg;
    ck_assert_int_eq(spool_to_thread(NULL, NULL), -EINVAL);
    pthread_t th;
    int rc = 0;
    ck_assert_int_eq(pthread_create(&th, NULL, plain_to_thread, &rc), 0);
    ck_assert_int_eq(spool_to_thread(join_thread, &th), 0);
    ck_assert_int_eq(rc, -EPERM);
    return 0;
}

START_TEST(to_thread_refuses_null_and_plain_threads)
{
    ck_assert_int_eq(spool_to_thread(return_arg, NULL), -EPERM);
    ck_assert_int_eq(run_on(1, bad_calls, NULL), 0);
}
END_TEST

/* ---- spool_runtime_current ------------------------------------------------------ */

static void *plain_runtime_current(void *arg)
{
    *(spool_runtime **)arg = spool_runtime_current();
    return NULL;
}

static int report_runtime(void *arg)
{
    spool_runtime *main_rt = arg;
    spool_yield();
    return spool_runtime_current() == main_rt;
}

static int runtime_current(void *arg)
{
    (void)arg;
    spool_runtime *rt = spool_runtime_current();
    ck_assert_ptr_nonnull(rt);
    enum { N = 200 };
    static spool_task *t[N];
    static int r[N];
    for (int i = 0; i < N; i++)
        ck_assert_ptr_nonnull(t[i] = spool_spawn(report_runtime, rt));
    ck_assert_int_eq(spool_gather(t, N, r), 0);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(r[i], 1);
    /* Not in a plain thread, nor in a blocking-pool thread. */
    spool_runtime *seen = rt;
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, plain_runtime_current, &seen), 0);
    ck_assert_int_eq(spool_to_thread(join_thread, &th), 0);
    ck_assert_ptr_null(seen);
    struct where w = {0};
    ck_assert_int_eq(spool_to_thread(record_where, &w), 42);
    ck_assert_ptr_null(w.rt);
    ck_assert_ptr_eq(spool_runtime_current(), rt);
    return 0;
}

START_TEST(runtime_current_is_null_outside_tasks_and_one_runtime_within)
{
    ck_assert_ptr_null(spool_runtime_current());
    ck_assert_int_eq(run_on(4, runtime_current, NULL), 0);
    ck_assert_ptr_null(spool_runtime_current());
}
END_TEST

/* ---- spawn_on and join_blocking from plain threads --------------------------------- */

enum { SPAWNERS = 4, SPAWN_BATCH = 64 };
#define SPAWNS_PER_THREAD (SANITIZED ? 512 : 2560)

struct spawners {
    spool_runtime *rt;
    atomic_int finished;      /* threads done */
    atomic_long ran;          /* tasks that ran */
    spool_event all_done;
    pthread_t th[SPAWNERS];
};

struct spawner_arg {
    struct spawners *s;
    int index;
    int failures;
};

static int remote_task(void *arg)
{
    intptr_t v = (intptr_t)arg;
    if (v % 7 == 0)
        spool_yield();
    if (v % 31 == 0)
        spool_sleep_ms(0);
    return (int)(v % 100000);
}

static struct spawners spawn_state;
static struct spawner_arg spawner_args[SPAWNERS];

static int counted_remote_task(void *arg)
{
    atomic_fetch_add(&spawn_state.ran, 1);
    return remote_task(arg);
}

static void *spawner(void *arg)
{
    struct spawner_arg *a = arg;
    struct spawners *s = a->s;
    spool_task *t[SPAWN_BATCH];
    for (int base = 0; base < SPAWNS_PER_THREAD; base += SPAWN_BATCH) {
        for (int i = 0; i < SPAWN_BATCH; i++) {
            intptr_t v = (intptr_t)a->index * 1000000 + base + i;
            t[i] = spool_spawn_on(s->rt, counted_remote_task, (void *)v);
            if (!t[i])
                a->failures++;
        }
        for (int i = 0; i < SPAWN_BATCH; i++) {
            intptr_t v = (intptr_t)a->index * 1000000 + base + i;
            if (t[i] && spool_join_blocking(t[i]) != (int)(v % 100000))
                a->failures++;
        }
    }
    if (atomic_fetch_add(&s->finished, 1) + 1 == SPAWNERS)
        spool_event_set(&s->all_done);
    return NULL;
}

static int wait_for_spawners(void *arg)
{
    (void)arg;
    struct spawners *s = &spawn_state;
    s->rt = spool_runtime_current();
    for (int i = 0; i < SPAWNERS; i++) {
        spawner_args[i] = (struct spawner_arg){s, i, 0};
        ck_assert_int_eq(pthread_create(&s->th[i], NULL, spawner, &spawner_args[i]), 0);
    }
    ck_assert_int_eq(spool_event_wait(&s->all_done), 0);
    for (int i = 0; i < SPAWNERS; i++)
        ck_assert_int_eq(spool_to_thread(join_thread, &s->th[i]), 0);
    return 0;
}

START_TEST(plain_threads_spawn_on_and_join_blocking)
{
    memset(&spawn_state, 0, sizeof spawn_state);
    spool_event_init(&spawn_state.all_done);
    ck_assert_int_eq(run_on(thread_workers[_i], wait_for_spawners, NULL), 0);
    for (int i = 0; i < SPAWNERS; i++)
        ck_assert_int_eq(spawner_args[i].failures, 0);
    ck_assert_int_eq(atomic_load(&spawn_state.ran), (long)SPAWNERS * SPAWNS_PER_THREAD);
}
END_TEST

/* A thread spawns, a task joins (and gathers) what it spawned. */
enum { HANDED = 100 };

struct handover {
    spool_runtime *rt;
    spool_task *t[HANDED];
    spool_event ready;
};

static void *spawn_for_main(void *arg)
{
    struct handover *h = arg;
    for (int i = 0; i < HANDED; i++)
        h->t[i] = spool_spawn_on(h->rt, remote_task, (void *)(intptr_t)(i + 1));
    spool_event_set(&h->ready);
    return NULL;
}

static int join_what_a_thread_spawned(void *arg)
{
    (void)arg;
    struct handover h = {.rt = spool_runtime_current()};
    spool_event_init(&h.ready);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, spawn_for_main, &h), 0);
    ck_assert_int_eq(spool_event_wait(&h.ready), 0);
    ck_assert_int_eq(spool_to_thread(join_thread, &th), 0);
    for (int i = 0; i < HANDED; i++)
        ck_assert_ptr_nonnull(h.t[i]);
    for (int i = 0; i < HANDED / 2; i++)
        ck_assert_int_eq(spool_join(h.t[i]), i + 1);
    int r[HANDED / 2];
    ck_assert_int_eq(spool_gather(&h.t[HANDED / 2], HANDED / 2, r), 0);
    for (int i = 0; i < HANDED / 2; i++)
        ck_assert_int_eq(r[i], HANDED / 2 + i + 1);
    return 0;
}

START_TEST(a_task_joins_tasks_a_plain_thread_spawned)
{
    ck_assert_int_eq(run_on(thread_workers[_i], join_what_a_thread_spawned, NULL), 0);
}
END_TEST

static int spawn_on_in_a_task(void *arg)
{
    (void)arg;
    spool_runtime *rt = spool_runtime_current();
    ck_assert_ptr_null(spool_spawn_on(NULL, return_arg, NULL));
    ck_assert_ptr_null(spool_spawn_on(rt, NULL, NULL));
    spool_task *t = spool_spawn_on(rt, return_arg, (void *)(intptr_t)17);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(spool_join_blocking(t), -EPERM); /* a task: use spool_join */
    ck_assert_int_eq(spool_join(t), 17);
    enum { N = 100 };
    spool_task *many[N];
    for (int i = 0; i < N; i++)
        ck_assert_ptr_nonnull(many[i] = spool_spawn_on(rt, remote_task, (void *)(intptr_t)i));
    int r[N];
    ck_assert_int_eq(spool_gather(many, N, r), 0);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(r[i], i);
    return 0;
}

START_TEST(spawn_on_from_a_task_of_the_runtime_works_like_spawn)
{
    ck_assert_int_eq(run_on(thread_workers[_i], spawn_on_in_a_task, NULL), 0);
    ck_assert_int_eq(spool_join_blocking(NULL), -EINVAL);
}
END_TEST

/* A plain thread detaches what it spawned; failures are reported. */
#define DETACHED_REMOTE (SANITIZED ? 1000 : 5000)

struct remote_detach {
    spool_runtime *rt;
    atomic_int ran;
    atomic_int reports;
    int failures;
    pthread_t th;
};

static struct remote_detach rdetach;

static int count_and_maybe_fail(void *arg)
{
    intptr_t i = (intptr_t)arg;
    if (i % 5 == 0)
        spool_yield();
    atomic_fetch_add(&rdetach.ran, 1);
    return i % 10 == 0 ? -EIO : 0;
}

static void count_report(spool_task *task, int result, void *arg)
{
    (void)task;
    ck_assert_ptr_eq(arg, &rdetach);
    ck_assert_int_eq(result, -EIO);
    atomic_fetch_add(&rdetach.reports, 1);
}

static void *spawn_and_detach(void *arg)
{
    struct remote_detach *r = arg;
    for (intptr_t i = 0; i < DETACHED_REMOTE; i++) {
        spool_task *t = spool_spawn_on(r->rt, count_and_maybe_fail, (void *)i);
        if (!t || spool_detach(t) != 0)
            r->failures++;
    }
    return NULL;
}

static int detached_from_a_thread(void *arg)
{
    (void)arg;
    rdetach.rt = spool_runtime_current();
    ck_assert_int_eq(pthread_create(&rdetach.th, NULL, spawn_and_detach, &rdetach), 0);
    ck_assert_int_eq(spool_to_thread(join_thread, &rdetach.th), 0);
    uint64_t until = spool_now_ns() + HANG_GUARD_NS;
    while ((atomic_load(&rdetach.ran) < DETACHED_REMOTE || atomic_load(&rdetach.reports) < DETACHED_REMOTE / 10) &&
           spool_now_ns() < until)
        spool_sleep_ms(1);
    ck_assert_int_eq(atomic_load(&rdetach.ran), DETACHED_REMOTE);
    return 0;
}

START_TEST(a_plain_thread_detaches_what_it_spawned_on)
{
    memset(&rdetach, 0, sizeof rdetach);
    spool_config cfg = {.workers = thread_workers[_i], .on_task_error = count_report, .on_task_error_arg = &rdetach};
    ck_assert_int_eq(spool_run(detached_from_a_thread, NULL, &cfg), 0);
    ck_assert_int_eq(rdetach.failures, 0);
    ck_assert_int_eq(atomic_load(&rdetach.ran), DETACHED_REMOTE);
    ck_assert_int_eq(atomic_load(&rdetach.reports), DETACHED_REMOTE / 10);
}
END_TEST

/* Two runtimes at once: a task of one spawns into the other and wakes a
 * task of the other through a shared semaphore. Runtime B runs on a plain
 * thread that A's main joins before returning. */
#define CROSS_ROUNDS (SANITIZED ? 1000 : 5000)

struct cross {
    spool_runtime *a;
    spool_sem sem;
    atomic_int spawned_ran;
    int b_result;
    pthread_t th;
};

static struct cross cross;

static int mark_spawned_ran(void *arg)
{
    (void)arg;
    atomic_store(&cross.spawned_ran, 1);
    return 0;
}

static int runtime_b_main(void *arg)
{
    struct cross *c = arg;
    ck_assert_ptr_ne(spool_runtime_current(), c->a);
    spool_task *t = spool_spawn_on(c->a, mark_spawned_ran, NULL);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(spool_detach(t), 0);
    uint64_t rng = 0x123456789u;
    for (int i = 0; i < CROSS_ROUNDS; i++) {
        REQUIRE(spool_sem_release(&c->sem) == 0);
        if (xorshift(&rng) % 8 == 0)
            spool_sleep_ns(20 * SPOOL_USEC);
    }
    return 5;
}

static void *run_runtime_b(void *arg)
{
    struct cross *c = arg;
    spool_config cfg = {.workers = 2};
    c->b_result = spool_run(runtime_b_main, c, &cfg);
    return NULL;
}

static int acquire_cross_rounds(void *arg)
{
    struct cross *c = arg;
    for (int i = 0; i < CROSS_ROUNDS; i++)
        REQUIRE(spool_sem_acquire(&c->sem) == 0);
    return 0;
}

static int runtime_a_main(void *arg)
{
    struct cross *c = arg;
    c->a = spool_runtime_current();
    spool_task *waiter = spool_spawn(acquire_cross_rounds, c);
    ck_assert_ptr_nonnull(waiter);
    ck_assert_int_eq(pthread_create(&c->th, NULL, run_runtime_b, c), 0);
    ck_assert_int_eq(spool_join(waiter), 0);
    ck_assert_int_eq(spool_to_thread(join_thread, &c->th), 0);
    ck_assert_int_eq(c->b_result, 5);
    while (!atomic_load(&c->spawned_ran))
        spool_sleep_ms(1);
    return 0;
}

START_TEST(a_task_of_another_runtime_spawns_on_and_wakes_tasks_of_this_one)
{
    memset(&cross, 0, sizeof cross);
    spool_sem_init(&cross.sem, 0);
    ck_assert_int_eq(run_on(thread_workers[_i], runtime_a_main, &cross), 0);
    ck_assert_uint_eq(spool_sem_value(&cross.sem), 0);
}
END_TEST

/* ---- spawn_on once main has returned -------------------------------------------------- */

/* A thread spawns (and joins) tasks in a loop until spawn_on refuses.
 * Main returns after the thread's first spawns; a detached keeper task
 * joins the thread in a shield, so the run cannot end (and free rt)
 * before the thread has stopped using rt. */
struct late {
    spool_runtime *rt;
    pthread_t th;
    atomic_int main_returned;
    atomic_long accepted;
    atomic_long ran;
    int refused_before_main_returned;
    int bad_results;
};

static struct late late_state;

static int late_task(void *arg)
{
    atomic_fetch_add(&late_state.ran, 1);
    return (int)(intptr_t)arg;
}

static void *spawn_until_refused(void *arg)
{
    struct late *l = arg;
    for (intptr_t i = 1;; i++) {
        spool_task *t = spool_spawn_on(l->rt, late_task, (void *)i);
        if (!t) {
            if (!atomic_load(&l->main_returned))
                l->refused_before_main_returned = 1;
            return NULL; /* rt is not touched again */
        }
        atomic_fetch_add(&l->accepted, 1);
        if (spool_join_blocking(t) != (int)i)
            l->bad_results++;
    }
}

static int keeper(void *arg)
{
    struct late *l = arg;
    spool_shield_begin();
    int rc = spool_to_thread(join_thread, &l->th);
    spool_shield_end();
    return rc;
}

static int return_while_spawned_on(void *arg)
{
    struct late *l = arg;
    l->rt = spool_runtime_current();
    ck_assert_int_eq(pthread_create(&l->th, NULL, spawn_until_refused, l), 0);
    spool_task *k = spool_spawn(keeper, l);
    ck_assert_ptr_nonnull(k);
    ck_assert_int_eq(spool_detach(k), 0);
    while (atomic_load(&l->accepted) < 50)
        spool_sleep_ms(1);
    atomic_store(&l->main_returned, 1);
    return 11;
}

START_TEST(spawn_on_returns_null_once_main_has_returned)
{
    memset(&late_state, 0, sizeof late_state);
    ck_assert_int_eq(run_on(thread_workers[_i], return_while_spawned_on, &late_state), 11);
    ck_assert_int_eq(late_state.refused_before_main_returned, 0);
    ck_assert_int_eq(late_state.bad_results, 0);
    ck_assert_int_ge(atomic_load(&late_state.accepted), 50);
    ck_assert_int_eq(atomic_load(&late_state.ran), atomic_load(&late_state.accepted));
}
END_TEST

/* ---- wake-ups from plain threads -------------------------------------------------------- */

#define WAKE_ROUNDS (SANITIZED ? 2000 : 20000)

struct pingpong {
    spool_sem sem;
    spool_event ev;
    atomic_int progress;
    pthread_t th;
    int (*wake)(struct pingpong *); /* the thread's wake-up of each round */
    uint64_t seed;                  /* of its sleeps */
};

/* Waits (spinning, then yielding) until *p reaches want. */
static void thread_wait_for(atomic_int *p, int want)
{
    unsigned spins = 0;
    while (atomic_load(p) < want)
        if (++spins % 64 == 0)
            sched_yield();
}

/* The plain thread: WAKE_ROUNDS times, pp->wake(pp), then waits until
 * the task has counted that round. */
static void *wake_rounds(void *arg)
{
    struct pingpong *pp = arg;
    uint64_t rng = pp->seed;
    for (int i = 0; i < WAKE_ROUNDS; i++) {
        /* Sometimes give the task time to park first. */
        if (xorshift(&rng) % 4 == 0)
            sleep_us(20);
        ck_assert_int_eq(pp->wake(pp), 0);
        thread_wait_for(&pp->progress, i + 1);
    }
    return NULL;
}

/* Zeroes *pp (sem and ev: a semaphore at 0, an event not set) and starts
 * the plain thread that wakes the task with wake, its sleeps seeded by
 * seed. */
static void start_pingpong(struct pingpong *pp, int (*wake)(struct pingpong *), uint64_t seed)
{
    memset(pp, 0, sizeof *pp);
    spool_sem_init(&pp->sem, 0);
    spool_event_init(&pp->ev);
    pp->wake = wake;
    pp->seed = seed;
    ck_assert_int_eq(pthread_create(&pp->th, NULL, wake_rounds, pp), 0);
}

static int release_sem(struct pingpong *pp)
{
    return spool_sem_release(&pp->sem);
}

static int set_event(struct pingpong *pp)
{
    return spool_event_set(&pp->ev);
}

static int acquire_rounds(void *arg)
{
    (void)arg;
    struct pingpong pp;
    start_pingpong(&pp, release_sem, 88172645463325252u);
    for (int i = 0; i < WAKE_ROUNDS; i++) {
        REQUIRE(spool_sem_acquire(&pp.sem) == 0);
        atomic_store(&pp.progress, i + 1);
    }
    ck_assert_int_eq(spool_to_thread(join_thread, &pp.th), 0);
    ck_assert_uint_eq(spool_sem_value(&pp.sem), 0);
    return 0;
}

START_TEST(sem_release_from_a_plain_thread_wakes_the_task_every_time)
{
    ck_assert_int_eq(run_on(thread_workers[_i], acquire_rounds, NULL), 0);
}
END_TEST

static int event_rounds(void *arg)
{
    (void)arg;
    struct pingpong pp;
    start_pingpong(&pp, set_event, 0x2545F4914F6CDD1Du);
    for (int i = 0; i < WAKE_ROUNDS; i++) {
        REQUIRE(spool_event_wait(&pp.ev) == 0);
        spool_event_clear(&pp.ev);
        atomic_store(&pp.progress, i + 1);
    }
    ck_assert_int_eq(spool_to_thread(join_thread, &pp.th), 0);
    return 0;
}

START_TEST(event_set_from_a_plain_thread_wakes_the_task_every_time)
{
    ck_assert_int_eq(run_on(thread_workers[_i], event_rounds, NULL), 0);
}
END_TEST

/* The thread cancels each victim once it has started waiting (or about
 * to); main joins it. */
struct cancel_rounds {
    _Atomic(spool_task *) victim;
    atomic_int started;
    atomic_int cleaned;
    atomic_int done;
    spool_event never;
    spool_sem empty;
    pthread_t th;
};

static int wait_forever(void *arg)
{
    struct cancel_rounds *c = arg;
    int n = atomic_fetch_add(&c->started, 1) + 1;
    int rc = (n & 1) ? spool_event_wait(&c->never) : spool_sem_acquire(&c->empty);
    if (rc == -ECANCELED)
        atomic_fetch_add(&c->cleaned, 1);
    return rc;
}

static void *cancel_each(void *arg)
{
    struct cancel_rounds *c = arg;
    uint64_t rng = 0x9E3779B97F4A7C15u;
    for (int i = 0; i < WAKE_ROUNDS; i++) {
        spool_task *t;
        unsigned spins = 0;
        while (!(t = atomic_exchange(&c->victim, NULL)))
            if (++spins % 64 == 0)
                sched_yield();
        uint64_t r = xorshift(&rng) % 4;
        if (r == 0)
            sleep_us(20); /* surely parked */
        else if (r == 1)
            thread_wait_for(&c->started, i + 1); /* started, maybe parked */
        ck_assert_int_eq(spool_task_cancel(t), 0);
        thread_wait_for(&c->done, i + 1);
    }
    return NULL;
}

static int cancel_from_a_thread(void *arg)
{
    (void)arg;
    struct cancel_rounds c;
    memset(&c, 0, sizeof c);
    spool_event_init(&c.never);
    spool_sem_init(&c.empty, 0);
    ck_assert_int_eq(pthread_create(&c.th, NULL, cancel_each, &c), 0);
    for (int i = 0; i < WAKE_ROUNDS; i++) {
        spool_task *t = spool_spawn(wait_forever, &c);
        REQUIRE(t != NULL);
        atomic_store(&c.victim, t);
        REQUIRE(spool_join(t) == -ECANCELED);
        atomic_store(&c.done, i + 1);
    }
    ck_assert_int_eq(spool_to_thread(join_thread, &c.th), 0);
    ck_assert_int_eq(atomic_load(&c.cleaned), WAKE_ROUNDS);
    return 0;
}

START_TEST(task_cancel_from_a_plain_thread_wakes_the_task_every_time)
{
    ck_assert_int_eq(run_on(thread_workers[_i], cancel_from_a_thread, NULL), 0);
}
END_TEST

/* ---- runner --------------------------------------------------------------------------------- */

static Suite *threads_suite(void)
{
    Suite *s = suite_create("threads");
    ADD_LOOP_TEST(s, to_thread_runs_fn_on_a_thread_that_is_not_a_worker, 3);
    ADD_LOOP_TEST(s, to_thread_suspends_only_the_calling_task, 3);
    ADD_LOOP_TEST(s, many_concurrent_calls_complete_and_never_exceed_the_cap, 3);
    ADD_TEST(s, the_default_cap_holds_too);
    ADD_LOOP_TEST(s, calls_in_flight_each_get_a_thread_under_the_cap, 3);
    ADD_TEST(s, idle_pool_threads_retire);
    ADD_LOOP_TEST(s, a_cancelled_task_gets_ecanceled_and_fn_never_runs, 3);
    ADD_LOOP_TEST(s, a_cancellation_during_the_call_waits_for_fn_and_hits_the_next_wait, 3);
    ADD_TEST(s, shutdown_waits_for_a_call_in_flight);
    ADD_TEST(s, to_thread_refuses_null_and_plain_threads);
    ADD_TEST(s, runtime_current_is_null_outside_tasks_and_one_runtime_within);
    ADD_LOOP_TEST(s, plain_threads_spawn_on_and_join_blocking, 3);
    ADD_LOOP_TEST(s, a_task_joins_tasks_a_plain_thread_spawned, 3);
    ADD_LOOP_TEST(s, spawn_on_from_a_task_of_the_runtime_works_like_spawn, 3);
    ADD_LOOP_TEST(s, a_plain_thread_detaches_what_it_spawned_on, 3);
    ADD_LOOP_TEST(s, a_task_of_another_runtime_spawns_on_and_wakes_tasks_of_this_one, 3);
    ADD_LOOP_TEST(s, spawn_on_returns_null_once_main_has_returned, 3);
    ADD_LOOP_TEST(s, sem_release_from_a_plain_thread_wakes_the_task_every_time, 3);
    ADD_LOOP_TEST(s, event_set_from_a_plain_thread_wakes_the_task_every_time, 3);
    ADD_LOOP_TEST(s, task_cancel_from_a_plain_thread_wakes_the_task_every_time, 3);
    return s;
}

int main(void)
{
    return check_main(threads_suite, 120);
}
