/*
 * worker.h — the worker and the runtime: their structs, what a task asks
 * of its worker when it switches out (spool__action, spool__park_fn), and
 * the record's switch from `start` to `run` (spool__task_start_running).
 *
 * No .c of its own: it declares no function. runtime.c fills these structs
 * in (spool_run) and scheduler.c runs them; the essay at the top of
 * scheduler.c explains the fields' protocols, and scheduler.h declares
 * what scheduler.c defines (spool__worker_current among it).
 */
#ifndef SPOOL_WORKER_H
#define SPOOL_WORKER_H

#include "atomics.h"
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
    bool on_epoll;                    /* rt->backend is epoll: a copy on the worker's own
                                       * line, read every tick (io_due); set at start */
    spool_task *current;              /* the task running now, or NULL */
    spool_task *lifo;                 /* woken by a running task: runs next */
    unsigned lifo_polls;              /* LIFO runs since the last queue pop */
    uint32_t tick;                    /* scheduler iterations */
    int64_t top_seen;                 /* deque top at the last fairness check */
    uint64_t top_since;               /* when top_seen was first seen there */
    uint64_t idle_since;              /* when the worker last ran out of work; 0: busy */
    uint64_t last_cpu_yield;          /* when the worker last gave its CPU away, or
                                       * started (scheduler.c, give_cpu_if_due) */
    uint64_t wake_late_ns;            /* moving average of how late timed waits end */
    uint64_t driver_failing_since;    /* when the driver's waits began to fail; 0: they work */
    uint64_t driver_backoff_ns;       /* the pause after the next failed wait */
    uint64_t rng;                     /* xorshift state for victim choice */
    bool searching;                   /* counted in rt->nsearching */
    spool__ctx sched_ctx;             /* the worker's own stack while a task runs */
    uint64_t fp_words;                /* FP control words in force on this thread (context.h) */
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
    spool_task *nowait_task;          /* the task whose file calls done without blocking */
    unsigned nowait_calls;            /* ... are counted here, in a row (io/nowait.c) */
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
    _Atomic uint64_t stat_stolen, stat_parked, stat_woken, stat_idle, stat_cpu_yields;
    uint64_t run_start;               /* debug mode: when the current task was switched in */
    /* The worker's last clock reading (it reads the clock anyway: timers,
     * fairness, parking): a new task's start time (spool__stack.started),
     * for spool_dump's ages, at no cost of its own. */
    uint64_t clock_seen;
    /* spool_dump (dump.c): the task this worker runs (NULL: none),
     * stored relaxed at every switch in, for a dump to name the task of a
     * worker that did not stop; and the stop generation this worker last
     * stopped at (release, paired with the dumper's acquire). */
    _Atomic(spool_task *) shown;
    _Atomic uint32_t dump_stopped;
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
    _Alignas(SPOOL__CACHE_LINE) _Atomic unsigned nsearching;
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
    /* spool_dump's stop-the-world (dump.c): odd while a dump asks every
     * worker to stop at its next scheduling point, bumped by 2 a dump.
     * Read (relaxed) at every scheduler tick, written twice a dump: on a
     * line of its own. */
    _Alignas(SPOOL__CACHE_LINE) _Atomic uint32_t dump_stop;
    pthread_mutex_t dump_lock;        /* one dump at a time (dump.c) */
    struct spool__dump_signal *dump_signal; /* SIGQUIT in debug mode (dump.c); NULL: none */
};

/* Switches t's record from `start` to `run` (task_entry, or an exit
 * without running): t runs on w. */
static inline void spool__task_start_running(spool__worker *w, spool_task *t)
{
    t->u.run.scope = NULL;
    t->u.run.rt = w->rt;
}

#endif /* SPOOL_WORKER_H */
