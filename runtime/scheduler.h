/*
 * scheduler.h — workers, the runtime, and the scheduler's internal interface
 * (the essay is at the top of scheduler.c).
 */
#ifndef SPOOL_SCHED_H
#define SPOOL_SCHED_H

#include "context.h"
#include "deque.h"
#include "depot.h"
#include "driver.h"
#include "epoll.h"
#include "inject.h"
#include "reactor.h"
#include "stack.h"
#include "task.h"
#include "timer.h"
#include "wait.h"

#include <pthread.h>
#include <spool/spool.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct spool__runtime spool__runtime;

/* What a task asked of its worker when it switched out (owner only). */
typedef enum spool__action {
    SPOOL__ACT_PARK,  /* run park_fn(task, park_arg): true resumes it at once */
    SPOOL__ACT_YIELD, /* put it at the back of the global queue */
    SPOOL__ACT_EXIT,  /* it returned: release its stack, publish its result */
} spool__action;

/* Called on the worker's own stack right after a task switched out, so the
 * task's registers are saved before anyone can wake it ("publish after
 * switch"). Returns true to resume the task immediately instead. */
typedef bool (*spool__park_fn)(spool_task *t, void *arg);

/* One worker: a thread, its queues, its ring and timers. Fields without a
 * note are owner-only. */
typedef struct spool__worker {
    spool__deque deque;               /* owner pushes/takes; anyone steals */
    spool__runtime *rt;               /* read-only after start */
    unsigned index;                   /* read-only after start */
    spool_task *current;              /* the task running now, or NULL */
    spool_task *lifo;                 /* woken by a running task: runs next */
    unsigned lifo_polls;              /* LIFO runs since the last queue pop */
    uint32_t tick;                    /* scheduler iterations */
    int64_t top_seen;                 /* deque top at the last fairness check */
    uint64_t top_since;               /* when top_seen was first seen there */
    uint64_t idle_since;              /* when the worker last ran out of work; 0: busy */
    uint64_t wake_late_ns;            /* moving average of how late timed waits end */
    uint64_t driver_failing_since;    /* when the driver's waits began to fail; 0: they work */
    uint64_t driver_backoff_ns;       /* the pause after the next failed wait */
    uint64_t rng;                     /* xorshift state for victim choice */
    bool searching;                   /* counted in rt->nsearching */
    spool__ctx sched_ctx;             /* the worker's own stack while a task runs */
    uint64_t fp_words;                /* MXCSR/x87 control words in force on this thread */
    uint64_t fp_words_own;            /* the thread's own, restored when the worker stops */
    spool__action action;             /* set by the task before it switches out */
    spool__park_fn park_fn;
    void *park_arg;
    spool_task *handed_off;           /* parked by a direct hand-off, action still pending */
    spool__timer_heap timers;
    spool__stack_pool stacks;
    /* The worker's driver (driver.h): one of the two, by rt->backend. */
    spool__reactor reactor;           /* io_uring */
    _Atomic int ring_fd;              /* the reactor's fd, for wakers; -1 before (io_uring) */
    spool__epoll ep;                  /* epoll */
    unsigned io_inflight;             /* operations submitted on this ring, not reaped (io.c) */
    uint16_t io_seq;                  /* tags user_data (io.c) */
    spool_task *free_tasks;           /* recycled task records */
    size_t nfree_tasks;               /* how many */
    /* Every record slab this worker allocated: owner pushes (release),
     * the shutdown scan reads (acquire). */
    _Atomic(struct spool__task_slab *) slabs;
    spool_task *slab_bump, *slab_end; /* unused records of the newest slab */
    size_t slab_next_count;           /* records in the next slab (they grow) */
    /* Owner writes (+1; `exited` with release), parking workers read all
     * (see scheduler.c, "Ending"): tasks spawned here / tasks that exited
     * here. */
    _Atomic uint64_t spawned, exited;
    /* Counters for spool_stats: owner-written (relaxed), read by anyone. */
    _Atomic uint64_t stat_stolen, stat_parked, stat_woken, stat_idle;
    uint64_t run_start;               /* debug mode: when the current task was switched in */
    pthread_t thread;
    int saved_timerslack;             /* the thread's timer slack before it became a worker */
#if defined(SPOOL_ASAN)
    void *asan_fake_stack;
    const void *stack_bottom;         /* the thread's stack, for ASan's switch hooks */
    size_t stack_size;
#endif
#if defined(SPOOL_TSAN)
    void *tsan_fiber;                 /* the thread's own fiber */
#endif
} spool__worker;

#define SPOOL__IDLE_WORDS (SPOOL_MAX_WORKERS / 64)

struct spool__runtime {
    spool__worker *workers;
    unsigned nworkers;
    spool__backend backend;           /* the workers' driver, chosen at spool_run */
    size_t stack_size;
    spool__inject inject;
    spool__depot stack_depot_dirty;   /* balance the workers' stack pools (stack.h) */
    spool__depot stack_depot_clean;
    spool__depot task_depot;          /* balances the workers' record caches */
    /* The idle protocol (scheduler.c, "Parking and waking"). */
    _Alignas(64) _Atomic unsigned nsearching;
    _Atomic unsigned nidle;
    _Atomic uint64_t idle_mask[SPOOL__IDLE_WORDS];
    _Atomic bool main_done;           /* set (seq_cst) when main has exited */
    _Atomic bool shutdown;            /* set once every task has exited, or on a fatal driver error */
    /* A driver error that persisted (scheduler.c, driver_failed): the
     * first worker to give up stores it (CAS from 0) and stops the
     * runtime; spool_run returns it. */
    _Atomic int fatal_error;
    _Atomic bool driver_error_said;   /* the one line about a failing driver is out */
    int main_result;                  /* written by main's exit, read after shutdown */
    spool_task *main_task;
    struct spool__start_latch *latch; /* start-up rendezvous (runtime.c) */
    /* Set (under remote.lock) when main has exited: every wait of every
     * task fails with -ECANCELED from then on, and no remote spawn is
     * accepted (runtime.c, "Shutdown"). */
    _Atomic bool cancelling;
    bool debug;                       /* debug reports (spool_config.debug / SPOOL_DEBUG) */
    void (*on_task_error)(spool_task *, int, void *);
    void *on_task_error_arg;
    struct spool__remote *remote;     /* threads outside the pool (remote.c) */
    struct spool__blocking_pool *blocking; /* spool_to_thread (blocking.c) */
};

/* The worker this thread runs, or NULL. Not inlined, and a compiler
 * barrier, so that code in a task re-reads it after every switch: a task
 * may resume on another thread, and a cached TLS address would be wrong. */
spool__worker *spool__worker_current(void);
/* Makes w this thread's worker (NULL: none). Only while starting and
 * stopping a worker (runtime.c). */
void spool__worker_set_current(spool__worker *w);

/* Switches the task running on w (the current worker) out with action
 * PARK: fn(t, arg) runs on the worker's stack once t's registers are saved;
 * fn NULL means "someone already holds a way to wake t" (a timer entry).
 * Task context only. Returns when t is resumed (on whatever worker: w is
 * stale then). */
void spool__suspend(spool__worker *w, spool__park_fn fn, void *arg);

/* Makes t runnable: into the LIFO slot of w (the current worker), so a task
 * woken by a running task runs on the waker's worker when the waker next
 * waits. Worker context (task or scheduler); t must be fully switched out. */
void spool__wake(spool__worker *w, spool_task *t);

/* Switches t's record from `start` to `run` (task_entry, or an exit
 * without running): t runs on w. */
static inline void spool__task_start_running(spool__worker *w, spool_task *t)
{
    t->u.run.scope = NULL;
    t->u.run.rt = w->rt;
}

/* Makes t (whose unpark the caller claimed) runnable at the back of the
 * runtime's global FIFO: for I/O completions, so that under load the
 * connections are served in the order their data came (the LIFO slot
 * and the deque would serve the newest first, and starve the oldest),
 * and any idle worker may take them. Worker context. */
void spool__wake_fifo(spool__worker *w, spool_task *t);
/* Wakes an idle worker if the global queue holds more than the one task
 * this worker, about to look for work, takes itself (after a batch of
 * spool__wake_fifo): waking a worker costs a system call on each side,
 * which for a lone completion is most of the work (echo, 6 alternating
 * runs: 9.0 -> 8.0 us of server CPU per message). Worker context. */
void spool__notify_if_queued(spool__worker *w);

/* Task records (task.c). Owner-only caches. */
spool_task *spool__task_alloc(spool__worker *w);
void spool__task_free(spool__worker *w, spool_task *t);
void spool__task_slabs_destroy(spool__worker *w);
/* Fills a fresh record for fn(arg), with no drop (set t->drop after it
 * for a handed-over arg). */
void spool__task_init(spool_task *t, spool_fn fn, void *arg);
/* Allocates, fills and schedules a task on w (spool_spawn_owned's body;
 * drop NULL: spool_spawn's). Returns: its handle (task.h), or NULL if
 * no record can be had: drop has not run then (the public caller runs
 * it). */
spool_task *spool__spawn_here(spool__worker *w, spool_fn fn, void *arg, spool_drop_fn drop);
/* Ends t's life before its first run, on w in no task: switches its
 * record to `run`, sets its result, then runs the drop its spawner gave
 * (spool_spawn_owned), if any, exactly once. The caller then finishes t
 * as if it had exited. Worker context (the scheduler's stack). */
void spool__task_never_runs(spool__worker *w, spool_task *t, int result);
/* The worker-shaped record cache of threads outside the pool, or NULL
 * (remote.c). */
spool__worker *spool__remote_allocator(spool__runtime *rt);
/* Puts a new task on w's queues and counts it. */
void spool__task_schedule_new(spool__worker *w, spool_task *t);

/* Pushes t (runnable) on rt's global queue from any thread, and wakes a
 * parked worker for it (remote.c). */
void spool__runtime_push_remote(spool__runtime *rt, spool_task *t);
/* The remote side's life cycle and record cache (remote.c). close: no
 * remote spawn is accepted from now on, and every wait fails with
 * -ECANCELED (sets rt->cancelling). */
int spool__remote_init(spool__runtime *rt);
void spool__remote_destroy(spool__runtime *rt);
void spool__remote_close(spool__runtime *rt);
/* Waits until no plain thread is still touching the runtime after
 * queueing a task (the first step of tearing the runtime down). */
void spool__remote_quiesce(spool__runtime *rt);
void spool__remote_free_record(spool__runtime *rt, spool_task *t);
/* The blocking pool (blocking.c): created with the runtime, its threads on
 * demand; destroy joins them (none is busy by then: their callers are
 * tasks, and every task has ended). */
int spool__blocking_init(spool__runtime *rt, unsigned cap, uint64_t idle_ns);
void spool__blocking_destroy(spool__runtime *rt);
/* Like spool__notify, for a thread that is not a worker of rt (remote.c). */
void spool__notify_remote(spool__runtime *rt);
/* Claims an idle worker for a producer that found nobody searching (P3):
 * returns its index (it now counts as searching), or -1 (scheduler.c). */
int spool__claim_idle_worker(spool__runtime *rt);

/* The exit path's duties towards whoever owns the record: publish the
 * result to the joiner, or free a detached task (join.c). Worker context. */
void spool__task_publish_exit(spool__worker *w, spool_task *t);
/* Drops t's entry from the name table (names.c). */
void spool__name_forget(spool_task *t);
/* spool_task_name for a signal handler (guard.c): NULL also when the
 * table's lock is held (by anyone: the interrupted code, maybe). */
const char *spool__task_name_in_signal(const spool_task *task);
/* Writes a task's name for reports into buf: "'name'" or "task 0x... (fn
 * 0x...)" (runtime.c). */
void spool__task_describe(const spool_task *t, char *buf, size_t n);
/* Tasks spawned from outside the pool so far (remote.c); seq_cst. */
uint64_t spool__remote_spawned(spool__runtime *rt);
/* Reports a detached task's failure (runtime.c). */
void spool__report_task_error(spool__runtime *rt, spool_task *t, int result);
/* Calls fn(t, arg) on every record of rt that may hold a task (task.c);
 * records allocated concurrently may be missed. Any thread. */
void spool__task_for_each_record(spool__runtime *rt, void (*fn)(spool_task *, void *), void *arg);
/* Main has exited: cancel every task (runtime.c). Worker context. */
void spool__runtime_begin_cancel_all(spool__worker *w);

/* The scheduler loop of worker w; returns at shutdown (scheduler.c). */
void spool__worker_loop(spool__worker *w);
/* Wakes a parked worker if work is queued that it could take and no worker
 * is already searching (scheduler.c). Worker context. */
void spool__notify(spool__worker *w);

/* ---- the inline steps of a wait (wait.h) ---------------------------------- */

/* The scope whose deadline is in force for t: the innermost, unless a
 * shield went up after it was entered. */
static inline spool_timeout *spool__scope_in_force(const spool_task *t)
{
    spool_timeout *s = t->u.run.scope;
    return s && s->shield_depth == t->shield ? s : NULL;
}

/* Whether t's waits must fail now: -ECANCELED (cancelled, or its runtime
 * is shutting down, outside shields), -ETIMEDOUT (a scope in force has
 * expired; marks it fired), or 0. Reads the clock only while a scope with
 * a deadline is in force. Task only. */
static inline int spool__wait_check_into(spool_task *t, uint32_t *newly_fired)
{
    if (!t->shield && (spool__task_cancel_requested(t) ||
                       atomic_load_explicit(&t->u.run.rt->cancelling, memory_order_acquire)))
        return -ECANCELED;
    spool_timeout *s = spool__scope_in_force(t);
    if (s && s->effective != UINT64_MAX)
        return spool__wait_check_deadline(t, s, newly_fired);
    return 0;
}

static inline int spool__wait_check(spool_task *t)
{
    return spool__wait_check_into(t, NULL);
}

/* Starts a wait of the calling task. own_deadline: an absolute
 * spool_now_ns() instant at which the caller wants to be woken (sleep), or
 * UINT64_MAX. Returns 0, -EPERM outside a task, or what
 * spool__wait_check says (the wait is not started then). */
static inline int spool__wait_begin(spool__wait *wt, uint64_t own_deadline)
{
    spool__worker *w = spool__worker_current();
    if (!w || !w->current)
        return -EPERM;
    int rc = spool__wait_check(w->current);
    if (rc)
        return rc;
    *wt = (spool__wait){.w = w, .task = w->current, .own_deadline = own_deadline};
    return 0;
}

/* The same for a wait that must run to its end whatever happens (the
 * second half of a cancelled join, a blocking-pool call): cancellation and
 * timeout scopes do not interrupt it. Never fails inside a task. */
static inline int spool__wait_begin_shielded(spool__wait *wt)
{
    spool__worker *w = spool__worker_current();
    if (!w || !w->current)
        return -EPERM;
    *wt = (spool__wait){.w = w, .task = w->current, .own_deadline = UINT64_MAX, .shielded = true};
    return 0;
}

/* Ends the wait: its timer entry, if any, becomes stale. Release: pairs
 * with the acquire load of fire_timers, which then leaves the task alone. */
static inline void spool__wait_end(spool__wait *wt)
{
    if (!wt->armed)
        return;
    spool_task *t = wt->task;
    uint32_t seq = atomic_load_explicit(&t->wait_seq, memory_order_relaxed);
    atomic_store_explicit(&t->wait_seq, seq + 1, memory_order_release); /* even: no timed wait */
}

#endif /* SPOOL_SCHED_H */
