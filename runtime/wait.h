/*
 * wait.h — how a task waits: the park token, and the checks every wait
 * makes (cancellation, timeout scopes, its own deadline).
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

#include "task.h"

#include <stdbool.h>
#include <stdint.h>

struct spool__worker;
struct spool__runtime;

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

/* One wait of the current task. */
typedef struct spool__wait {
    struct spool__worker *w;  /* the worker at begin (stale after a park) */
    spool_task *task;
    uint64_t own_deadline;    /* the call's own (spool_sleep); UINT64_MAX: none */
    bool armed;               /* a timer entry for this wait is in a heap */
    bool shielded;            /* ignores cancellation and timeouts */
    uint32_t newly_fired;     /* scopes the last park's check marked fired (see unfire) */
} spool__wait;

/* The inline steps of a wait (spool__wait_check, spool__wait_begin,
 * spool__wait_begin_shielded, spool__wait_end, spool__scope_in_force) are
 * at the end of scheduler.h: they read the worker and the runtime. */

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

#endif /* SPOOL_WAIT_H */
