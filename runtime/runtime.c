/*
 * runtime.c — spool_run: building a runtime, starting its workers, running
 * main, and tearing everything down once every task has exited.
 */
#include "runtime.h"

#include "atomics.h"
#include "blocking.h"
#include "context.h"
#include "depot.h"
#include "deque.h"
#include "driver.h"
#include "dump.h"
#include "guard.h"
#include "inject.h"
#include "names.h"
#include "remote.h"
#include "scheduler.h"
#include "stack.h"
#include "task.h"
#include "timer.h"
#include "wait.h"
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>


/* Start-up latch: every worker creates its ring on its own thread, then
 * waits here until all have, or one has failed. Lives in spool_run's frame. */
typedef struct spool__start_latch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned arrived, expected;
    int error;
} start_latch;

static void latch_fail(start_latch *l, int error)
{
    pthread_mutex_lock(&l->mu);
    if (!l->error)
        l->error = error;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

/* Arrives with this worker's start-up result; returns the first error of
 * any worker once all have arrived (or one failed), 0 if none. */
static int latch_arrive(start_latch *l, int error)
{
    pthread_mutex_lock(&l->mu);
    if (error && !l->error)
        l->error = error;
    l->arrived++;
    pthread_cond_broadcast(&l->cv);
    while (l->arrived < l->expected && !l->error)
        pthread_cond_wait(&l->cv, &l->mu);
    int rc = l->error;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

static int worker_start(spool__worker *w)
{
    spool__worker_set_current(w);
    spool__guard_thread_start(); /* a stack for the overflow line (guard.c) */
    /* Timers are exact to the nanosecond the kernel can give: the default
     * 50 us of slack would add up over a chain of short sleeps. */
    w->fp_words = w->fp_words_own = spool__fp_words_now();
    w->saved_timerslack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
#if defined(SPOOL_ASAN)
    pthread_attr_t attr;
    void *lo = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &lo, &size);
        pthread_attr_destroy(&attr);
    }
    w->stack_bottom = lo;
    w->stack_size = size;
#endif
#if defined(SPOOL_TSAN)
    w->tsan_fiber = spool__tsan_current();
#endif
    int rc = spool__driver_init(w);
    return latch_arrive(w->rt->latch, rc);
}

static void worker_finish(spool__worker *w)
{
    /* The caller's thread (worker 0) gets back its own floating-point
     * control words (a task's may be in force) and timer slack. */
    if (w->fp_words != w->fp_words_own)
        spool__fp_words_load(w->fp_words_own);
    if (w->saved_timerslack > 0)
        prctl(PR_SET_TIMERSLACK, (unsigned long)w->saved_timerslack, 0, 0, 0);
    spool__guard_thread_stop();
    spool__worker_set_current(NULL);
}

static void *worker_thread(void *arg)
{
    spool__worker *w = arg;
    if (worker_start(w) == 0)
        spool__worker_loop(w);
    worker_finish(w);
    return NULL;
}

/* ---- shutdown and reports ---------------------------------------------- */

/* Shutdown: when main has returned, every task still running is cancelled
 * (rt->cancelling makes all their waits fail, now and later), and every
 * record is unparked so that its task sees it. The scan runs over every
 * record of every slab. A record whose token says PARKED holds a parked
 * task (only a switched-out task sets it): it is made runnable. Any other
 * record is left a NOTIFIED token, for a task between its last look at
 * the flag and its park (the CAS EMPTY -> PARKED): skipping it would let
 * it park after the scan passed, with nobody left to wake it, and
 * spool_run would never return. With the token its park returns at once,
 * and its re-check sees the flag: the scan's unpark is an acq_rel CAS on
 * the token (NOTIFIED -> NOTIFIED too: a record that already holds a
 * token is not skipped, or its task could consume an older token that
 * does not order the flag before its re-check), and the task's consume
 * of the token is an acquire RMW reading from it. Elsewhere the token is
 * a spurious wake-up, which every wait tolerates; a record not in use
 * keeps it into its next task, whose first park it ends at once
 * (spool__task_init clears the state around it). Tasks spawned after the
 * flag see it at their first wait; a task spawned from a slab the scan
 * did not see sees it too (the fences below and in task.c's new_slab). */
static void unpark_every_record(spool_task *t, void *arg)
{
    (void)arg;
    spool__unpark(t);
}

void spool__runtime_begin_cancel_all(spool__worker *w)
{
    spool__remote_close(w->rt);
    /* The flag's store, then this fence, then the scan's loads of the
     * slab lists: with the fence after a new slab's publication
     * (task.c, new_slab) a Dekker handshake, so no slab is both missed
     * here and made without its tasks seeing the flag. The seq_cst store
     * alone orders nothing before the scan's acquire loads. */
    spool__fence_seq_cst();
    spool__task_for_each_record(w->rt, unpark_every_record, NULL);
}

void spool__task_describe(const spool_task *t, char *buf, size_t n)
{
    spool_task *handle = spool__task_handle(t); /* what the user holds and compares */
    const char *name = spool_task_name(handle);
    if (name)
        snprintf(buf, n, "task '%s'", name);
    else
        snprintf(buf, n, "task %p", (const void *)handle);
}

void spool__report_task_error(spool__runtime *rt, spool_task *t, int result)
{
    if (rt->on_task_error) {
        rt->on_task_error(spool__task_handle(t), result, rt->on_task_error_arg);
        return;
    }
    char name[96];
    spool__task_describe(t, name, sizeof name);
    fprintf(stderr, "spool: detached %s failed: %s (%d)\n", name, spool_strerror(result), result);
}

/* Debug mode, at the end: tasks that ended and were never joined nor
 * detached still hold their records (join word DONE). */
struct unjoined {
    spool_task *main;
    unsigned count;
};

static void report_if_unjoined(spool_task *t, void *arg)
{
    struct unjoined *u = arg;
    if (t == u->main || atomic_load_explicit(&t->join, memory_order_relaxed) != SPOOL__JOIN_DONE)
        return;
    if (u->count++ < 10) {
        char name[96];
        spool__task_describe(t, name, sizeof name);
        fprintf(stderr, "spool debug: %s (result %d) was never joined nor detached\n", name, t->result);
    }
}

static void report_unjoined(spool__runtime *rt)
{
    struct unjoined u = {rt->main_task, 0};
    spool__task_for_each_record(rt, report_if_unjoined, &u);
    if (u.count > 10)
        fprintf(stderr, "spool debug: ... %u tasks in all were never joined nor detached\n", u.count);
}

int spool_stats(struct spool_stats *out)
{
    if (!out)
        return -EINVAL;
    spool__worker *self = spool__worker_current();
    if (!self || !self->current)
        return -EPERM;
    spool__runtime *rt = self->rt;
    memset(out, 0, sizeof *out);
    out->workers = rt->nworkers;
    out->backend = spool__backend_name(rt->backend);
    /* Exits first, then spawns, as the quiescence check reads them: a task
     * seen exited was spawned before, so alive never comes out short. */
    for (unsigned i = 0; i < rt->nworkers; i++)
        out->worker[i].exited = atomic_load_explicit(&rt->workers[i].exited, memory_order_acquire);
    for (unsigned i = 0; i < rt->nworkers; i++) {
        spool__worker *w = &rt->workers[i];
        spool_worker_stats *s = &out->worker[i];
        s->spawned = atomic_load_explicit(&w->spawned, memory_order_relaxed);
        s->stolen = atomic_load_explicit(&w->stat_stolen, memory_order_relaxed);
        s->parked = atomic_load_explicit(&w->stat_parked, memory_order_relaxed);
        s->woken = atomic_load_explicit(&w->stat_woken, memory_order_relaxed);
        s->idle = atomic_load_explicit(&w->stat_idle, memory_order_relaxed);
        s->cpu_yields = atomic_load_explicit(&w->stat_cpu_yields, memory_order_relaxed);
        out->total.spawned += s->spawned;
        out->total.exited += s->exited;
        out->total.stolen += s->stolen;
        out->total.parked += s->parked;
        out->total.woken += s->woken;
        out->total.idle += s->idle;
        out->total.cpu_yields += s->cpu_yields;
    }
    uint64_t spawned = out->total.spawned + spool__remote_spawned(rt);
    out->alive = spawned > out->total.exited ? spawned - out->total.exited : 0;
    return 0;
}

static unsigned online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    return n > (long)SPOOL_MAX_WORKERS ? SPOOL_MAX_WORKERS : (unsigned)n;
}

static void forget_name(spool_task *t, void *arg)
{
    (void)arg;
    if (atomic_load_explicit(&t->state, memory_order_relaxed) & SPOOL__STATE_NAMED)
        spool__name_forget(t);
}

static void destroy(spool__runtime *rt)
{
    spool__remote_quiesce(rt);
    spool__blocking_destroy(rt);
    if (rt->remote) /* records exist only once the remote side is up */
        spool__task_for_each_record(rt, forget_name, NULL); /* names of tasks never freed */
    for (unsigned i = 0; i < rt->nworkers; i++) {
        spool__worker *w = &rt->workers[i];
        spool__driver_exit(w);
        spool__stack_pool_destroy(&w->stacks);
        spool__timer_heap_destroy(&w->timers);
        spool__task_slabs_destroy(w);
    }
    spool__depot_destroy(&rt->stack_depot_dirty);
    spool__depot_destroy(&rt->stack_depot_clean);
    spool__remote_destroy(rt);
    spool__depot_destroy(&rt->task_depot);
    pthread_mutex_destroy(&rt->dump_lock);
    free(rt->workers);
    free(rt);
}

int spool_run(spool_fn main_fn, void *arg, const spool_config *cfg)
{
    if (!main_fn)
        return -EINVAL;
    if (spool__worker_current())
        return -EBUSY;
    unsigned nworkers = cfg && cfg->workers ? cfg->workers : online_cpus();
    size_t stack_size = cfg && cfg->stack_size ? cfg->stack_size : SPOOL_DEFAULT_STACK_SIZE;
    if (nworkers > SPOOL_MAX_WORKERS || stack_size < SPOOL_MIN_STACK_SIZE ||
        stack_size > SPOOL_MAX_STACK_SIZE)
        return -EINVAL;
    spool__backend backend;
    if (spool__driver_choose(cfg, &backend) != 0)
        return -EINVAL;

    /* aligned_alloc: the runtime and workers have members aligned on
     * SPOOL__CACHE_LINE (calloc gives 16), so their types are aligned so
     * too and their sizes are multiples of it (aligned_alloc's rule). */
    _Static_assert(_Alignof(spool__runtime) == SPOOL__CACHE_LINE, "runtime alignment");
    _Static_assert(_Alignof(spool__worker) == SPOOL__CACHE_LINE, "worker alignment");
    _Static_assert(sizeof(spool__runtime) % SPOOL__CACHE_LINE == 0, "runtime size");
    _Static_assert(sizeof(spool__worker) % SPOOL__CACHE_LINE == 0, "worker size");
    spool__runtime *rt = aligned_alloc(_Alignof(spool__runtime), sizeof *rt);
    if (!rt)
        return -ENOMEM;
    memset(rt, 0, sizeof *rt);
    rt->workers = aligned_alloc(_Alignof(spool__worker), sizeof(spool__worker) * nworkers);
    if (!rt->workers) {
        free(rt);
        return -ENOMEM;
    }
    memset(rt->workers, 0, sizeof(spool__worker) * nworkers);
    rt->nworkers = nworkers;
    rt->backend = backend;
    spool__inject_init(&rt->inject);
    spool__depot_init(&rt->stack_depot_dirty);
    spool__depot_init(&rt->stack_depot_clean);
    spool__depot_init(&rt->task_depot);
    pthread_mutex_init(&rt->dump_lock, NULL);
    start_latch latch = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .expected = nworkers};
    rt->latch = &latch;
    for (unsigned i = 0; i < nworkers; i++) {
        spool__worker *w = &rt->workers[i];
        spool__deque_init(&w->deque);
        w->rt = rt;
        w->index = i;
        spool__timer_heap_init(&w->timers);
        /* One worker has nothing to balance: no depots. */
        bool balance = nworkers > 1;
        spool__stack_pool_init(&w->stacks, stack_size, balance ? &rt->stack_depot_dirty : NULL,
                               balance ? &rt->stack_depot_clean : NULL);
        atomic_init(&w->ring_fd, -1);
    }
    rt->stack_size = rt->workers[0].stacks.stack_size; /* rounded to pages */
    const char *env = getenv("SPOOL_DEBUG");
    rt->debug = (cfg && cfg->debug) || (env && strcmp(env, "1") == 0);
    rt->on_task_error = cfg ? cfg->on_task_error : NULL;
    rt->on_task_error_arg = cfg ? cfg->on_task_error_arg : NULL;
    int setup = spool__remote_init(rt);
    if (!setup)
        setup = spool__blocking_init(rt, cfg && cfg->blocking_threads ? cfg->blocking_threads : SPOOL_DEFAULT_BLOCKING_THREADS,
                                     cfg && cfg->blocking_idle_ns ? cfg->blocking_idle_ns : SPOOL_DEFAULT_BLOCKING_IDLE_NS);
    if (setup) {
        destroy(rt);
        return setup;
    }

    spool__guard_install(); /* the overflow line (guard.c) */

    /* main is queued on worker 0 (this thread) before anything starts. */
    spool__worker *w0 = &rt->workers[0];
    spool_task *main_task = spool__task_alloc(w0);
    if (!main_task) {
        destroy(rt);
        return -ENOMEM;
    }
    spool__task_init(main_task, main_fn, arg);
    rt->main_task = main_task;
    atomic_store_explicit(&w0->spawned, 1, memory_order_relaxed);
    w0->lifo = main_task;

    unsigned started = 1;
    for (; started < nworkers; started++) {
        int rc = pthread_create(&rt->workers[started].thread, NULL, worker_thread, &rt->workers[started]);
        if (rc) {
            latch_fail(&latch, -rc);
            break;
        }
    }
    int rc = worker_start(w0);
    if (rc == 0) {
        /* Debug mode: SIGQUIT prints spool_dump on stderr (dump.c). Only
         * now: worker_start returned after the start latch, so every
         * worker's driver exists (a dump wakes each one through it; a
         * zeroed epoll worker's eventfd is fd 0), and the latch and
         * pthread_create order their fds before the dumping thread's
         * reads. Without it (another runtime holds SIGQUIT, no thread or
         * fd to be had) the runtime runs all the same. */
        if (rt->debug)
            spool__dump_signal_start(rt);
        spool__worker_loop(w0);
    }
    worker_finish(w0);
    for (unsigned i = 1; i < started; i++)
        pthread_join(rt->workers[i].thread, NULL);
    spool__dump_signal_stop(rt); /* SIGQUIT as it was; no dump from here on */
    int fatal = atomic_load_explicit(&rt->fatal_error, memory_order_relaxed); /* after the joins */
    if (fatal) {
        /* The driver failed for good (scheduler.c, driver_failed) with
         * tasks still waiting: their stacks and buffers may still be the
         * kernel's, and a blocking-pool thread may be busy for one. Close
         * the drivers (the kernel then cancels what is in flight) and
         * leave the rest allocated: a leak, not a use after free. */
        for (unsigned i = 0; i < nworkers; i++)
            spool__driver_exit(&rt->workers[i]);
        pthread_mutex_destroy(&latch.mu);
        pthread_cond_destroy(&latch.cv);
        return fatal;
    }
    if (rc == 0)
        rc = rt->main_result;
    if (rt->debug)
        report_unjoined(rt);
    destroy(rt);
    pthread_mutex_destroy(&latch.mu);
    pthread_cond_destroy(&latch.cv);
    return rc;
}

uint64_t spool_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *spool_backend_name(void)
{
    spool__worker *w = spool__worker_current();
    return w ? spool__backend_name(w->rt->backend) : NULL;
}

int spool_in_task(void)
{
    spool__worker *w = spool__worker_current();
    return w && w->current;
}

int spool_workers(void)
{
    spool__worker *w = spool__worker_current();
    if (!w || !w->current)
        return -EPERM;
    return (int)w->rt->nworkers;
}
