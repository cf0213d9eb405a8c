/*
 * wait.h — how a task waits: the park token, and the checks every wait
 * makes (cancellation, timeout scopes, its own deadline). wait.c defines
 * its functions; the steps of a wait that run inline are at its end.
 *
 * The park token (Rust's thread::park, Go's notes) decouples "make t
 * runnable" from "t is switched out": anyone may unpark a task at any
 * time, from any thread; an unpark that arrives before the task parks
 * leaves a token, and the park returns at once. So a waiter may publish
 * itself (join a waiter list) before it switches out, and a waker never
 * needs to know whether it came early. The price is spurious wake-ups:
 * every wait re-checks its condition in a loop, so a stale unpark (a
 * timer of an old wait, a waker of a record since reused) costs a turn of
 * that loop and nothing else.
 *
 * A wait, as every blocking call in spool writes it:
 *
 *     spool__wait wt;
 *     int rc = spool__wait_begin(&wt, own_deadline);  // -ECANCELED, -ETIMEDOUT, -EPERM
 *     if (rc) return rc;
 *     ...publish a waiter, or find the condition already true...
 *     while (!condition) {
 *         rc = spool__wait_park(&wt);                 // 0: woken (maybe spuriously)
 *         if (rc) { ...withdraw, unless the condition came true...; break; }
 *     }
 *     spool__wait_end(&wt);
 *
 * Cancellation and timeouts are level-triggered: spool__wait_check
 * answers from the task's state each time, so every wait after a
 * cancellation (outside shields) fails too.
 */
#ifndef SPOOL_WAIT_H
#define SPOOL_WAIT_H

#include "scheduler.h"
#include "task.h"
#include "worker.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Makes t runnable if it is parked, else leaves it a token. Any thread:
 * on a worker of t's runtime t goes to that worker's LIFO slot; elsewhere
 * to t's runtime's global queue, and a parked worker is woken for it. t's
 * record must not have been freed back to the system (records live until
 * their runtime ends, so any record of a running runtime qualifies). */
void spool__unpark(spool_task *t);

/* The CAS half of spool__unpark: true if t was parked and the caller now
 * owns making it runnable; else a token was left (or already there). */
bool spool__unpark_claim(spool_task *t);

/* Makes a task whose unpark the caller claimed runnable (see unpark). */
void spool__make_runnable(spool_task *t);

/* spool__wait_check's slow half: the scope s in force has a deadline;
 * -ETIMEDOUT (marking the scopes it expired; those newly marked go into
 * *newly as bits by depth, innermost first, if newly is not NULL) if it
 * has passed, else 0. */
int spool__wait_check_deadline(spool_task *t, spool_timeout *s, uint32_t *newly);

/* What a wait waits on, for spool_dump (dump.c). The runtime names the
 * kinds of wait, not the types of sync/ and io/: each waiting side says
 * which kind it is and fills the generic fields (spool__wait_on). */
typedef enum spool__wait_kind {
    SPOOL__WAIT_OTHER = 0,  /* not annotated (a zeroed spool__wait) */
    SPOOL__WAIT_SLEEP,      /* spool_sleep_*: own_deadline */
    SPOOL__WAIT_JOIN,       /* join, gather, wait_for, wait_any: obj = the first task (a
                             * record), count = how many */
    SPOOL__WAIT_IO,         /* an I/O operation: op (its name), fd */
    SPOOL__WAIT_THREAD,     /* spool_to_thread: obj = the function running on the pool */
    SPOOL__WAIT_SEM,        /* obj = the semaphore */
    SPOOL__WAIT_LOCK,       /* obj = the lock (a semaphore bounded to one permit) */
    SPOOL__WAIT_EVENT,      /* obj = the event */
    SPOOL__WAIT_COND,       /* obj = the condition */
    SPOOL__WAIT_BARRIER,    /* obj = the barrier */
    SPOOL__WAIT_QUEUE_PUT,  /* obj = the queue (full) */
    SPOOL__WAIT_QUEUE_GET,  /* obj = the queue (empty) */
    SPOOL__WAIT_GROUP,      /* obj = the task group */
    SPOOL__WAIT_LISTENER,   /* closing a listener: obj = it */
    SPOOL__WAIT_KINDS
} spool__wait_kind;

/* One wait of the current task. It lives in the waiting call's frame; a
 * park records its address in the task's stack descriptor
 * (spool__stack.waiting), where spool_dump finds it. */
typedef struct spool__wait {
    struct spool__worker *w;  /* the worker at begin (stale after a park) */
    spool_task *task;
    uint64_t own_deadline;    /* the call's own (spool_sleep); UINT64_MAX: none */
    bool armed;               /* a timer entry for this wait is in a heap */
    bool shielded;            /* ignores cancellation and timeouts */
    uint8_t kind;             /* spool__wait_kind: for spool_dump only */
    int fd;                   /* IO: the fd */
    uint32_t newly_fired;     /* scopes the last park's check marked fired (see unfire) */
    unsigned count;           /* JOIN: how many tasks */
    const void *obj;          /* what is waited on (see spool__wait_kind) */
    const char *op;           /* IO: the operation's name (a string literal) */
} spool__wait;

/* Says what wt waits on, for spool_dump. Plain stores into the waiting
 * call's own frame, on the slow path only (a wait about to park): the
 * task writes them before it switches out, and the dumper reads them only
 * while that task cannot run (dump.c). Task only. */
static inline void spool__wait_on(spool__wait *wt, spool__wait_kind kind, const void *obj)
{
    wt->kind = (uint8_t)kind;
    wt->obj = obj;
}

/* The inline steps of a wait (spool__wait_check, spool__wait_begin,
 * spool__wait_begin_shielded, spool__wait_end, spool__scope_in_force) are
 * at the end of this header. */

/* Parks once (unless a token is pending). Arms a timer for the nearest of
 * own_deadline and the scope deadline in force the first time. Returns
 * after a wake-up (maybe spurious): 0, or -ECANCELED / -ETIMEDOUT when the
 * wait must stop (never for a shielded wait), or -ENOMEM without parking
 * if the timer heap could not grow. The caller re-checks its condition
 * either way. */
int spool__wait_park(spool__wait *wt);

/* Takes back the "fired" marks of the last -ETIMEDOUT spool__wait_park
 * returned: for a wait that succeeded after all (it had been handed what
 * it waited for as it timed out), so spool_timeout_exit does not report a
 * timeout that no caller saw. */
void spool__wait_unfire(spool__wait *wt);

/* The calling task, or NULL outside a task. */
spool_task *spool__current_task(void);

/* ---- the inline steps of a wait ------------------------------------------
 * Static inline, so no .c defines them. They read the worker and the
 * runtime (worker.h) and find the calling task's worker
 * (spool__worker_current, scheduler.h): that is why wait.h includes those
 * two, which include nothing that includes wait.h. */

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

#endif /* SPOOL_WAIT_H */
