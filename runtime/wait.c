/*
 * wait.c — the park token and the wait loop's steps (see wait.h).
 *
 * Token protocol, on the low bits of spool_task.state (the other bits are
 * kept by every transition):
 *   park (the task, on its worker's stack after its switch, park_token):
 *     CAS EMPTY -> PARKED: it stays switched out; else the token was
 *     NOTIFIED: exchange it back to EMPTY and resume at once.
 *   unpark (anyone): CAS PARKED -> EMPTY: the winner makes the task
 *     runnable (exactly one party can win it per park); otherwise CAS
 *     EMPTY -> NOTIFIED, or NOTIFIED -> NOTIFIED.
 * Every unpark is a read-modify-write with release, and every path by
 * which the task resumes reads the token with acquire (the CAS or the
 * exchange), so whatever an unparker wrote before its unpark (a grant, an
 * item, a result) is visible to the task when it re-checks its condition.
 * A plain load of NOTIFIED would not do: the waker's write could still sit
 * in its store buffer while the task consumes an older token.
 * PARKED is only ever set by a task that has switched out, so the CAS
 * winner may queue it at once ("publish after switch", scheduler.c).
 *
 * Timers: a timed wait pushes (deadline, task, wait_seq) on its worker's
 * heap once; the entry fires only if the task's wait_seq still matches
 * (scheduler.c, fire_timers), i.e. the same wait is still in progress.
 */
#include "wait.h"

#include "atomics.h"
#include "remote.h"
#include "scheduler.h"
#include "task.h"
#include "timer.h"
#include "worker.h"

#include <errno.h>

/* Consumes a NOTIFIED token (only the task does), keeping the other
 * state bits. */
static void consume_token(spool_task *t)
{
    atomic_fetch_and_explicit(&t->state, ~SPOOL__TOKEN_MASK, memory_order_acquire);
}

static bool park_token(spool_task *t, void *arg)
{
    (void)arg;
    uint32_t v = atomic_load_explicit(&t->state, memory_order_relaxed);
    while ((v & SPOOL__TOKEN_MASK) == SPOOL__TOKEN_EMPTY)
        if (atomic_compare_exchange_weak_explicit(&t->state, &v, v | SPOOL__TOKEN_PARKED, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return false;
    consume_token(t); /* NOTIFIED */
    return true;
}

bool spool__unpark_claim(spool_task *t)
{
    uint32_t v = atomic_load_explicit(&t->state, memory_order_relaxed);
    for (;;) {
        uint32_t token = v & SPOOL__TOKEN_MASK;
        uint32_t want = (v & ~SPOOL__TOKEN_MASK) |
                        (token == SPOOL__TOKEN_PARKED ? SPOOL__TOKEN_EMPTY : SPOOL__TOKEN_NOTIFIED);
        if (atomic_compare_exchange_weak_explicit(&t->state, &v, want, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return token == SPOOL__TOKEN_PARKED;
    }
}

void spool__make_runnable(spool_task *t)
{
    spool__worker *w = spool__worker_current();
    if (w && w->rt == t->u.run.rt) {
        spool__owner_add(&w->stat_woken, 1, memory_order_relaxed);
        spool__wake(w, t);
    } else {
        spool__runtime_push_remote(t->u.run.rt, t);
    }
}

void spool__unpark(spool_task *t)
{
    if (spool__unpark_claim(t))
        spool__make_runnable(t);
}

spool_task *spool__current_task(void)
{
    spool__worker *w = spool__worker_current();
    return w ? w->current : NULL;
}

int spool__wait_check_deadline(spool_task *t, spool_timeout *s, uint32_t *newly)
{
    uint64_t now = spool_now_ns();
    if (now < s->effective)
        return 0;
    /* Expired: mark every scope up to the shield boundary whose own
     * deadline has passed (an outer scope's expiry is the outer one's). */
    uint32_t mask = 0;
    for (unsigned i = 0; s && s->shield_depth == t->shield; s = s->outer, i++) {
        if (s->deadline <= now && !s->fired) {
            s->fired = 1;
            if (i < 32)
                mask |= UINT32_C(1) << i;
        }
    }
    if (newly)
        *newly = mask;
    return -ETIMEDOUT;
}

void spool__wait_unfire(spool__wait *wt)
{
    spool_timeout *s = wt->task->u.run.scope;
    for (unsigned i = 0; s && i < 32; s = s->outer, i++)
        if (wt->newly_fired & (UINT32_C(1) << i))
            s->fired = 0;
    wt->newly_fired = 0;
}

int spool__wait_park(spool__wait *wt)
{
    spool_task *t = wt->task;
    spool__worker *w = spool__worker_current();
    if (!wt->armed) {
        uint64_t deadline = wt->own_deadline;
        spool_timeout *s = wt->shielded ? NULL : spool__scope_in_force(t);
        if (s && s->effective < deadline)
            deadline = s->effective;
        if (deadline != UINT64_MAX) {
            /* Odd while this wait is on: its entry is live until
             * spool__wait_end moves it on. */
            uint32_t seq = atomic_load_explicit(&t->wait_seq, memory_order_relaxed) | 1;
            atomic_store_explicit(&t->wait_seq, seq, memory_order_relaxed);
            if (spool__timer_push(&w->timers, deadline, t, seq))
                return -ENOMEM; /* nothing would end the wait on time */
            wt->armed = true;
        }
    }
    /* A pending token is consumed without a switch. */
    if ((atomic_load_explicit(&t->state, memory_order_relaxed) & SPOOL__TOKEN_MASK) == SPOOL__TOKEN_NOTIFIED)
        consume_token(t);
    else {
        /* Where spool_dump finds what this task waits on while it is
         * parked (dump.c): a plain store by the task into its own
         * stack's descriptor, sequenced before its switch out. */
        t->stack->waiting = wt;
        spool__owner_add(&w->stat_parked, 1, memory_order_relaxed);
        spool__suspend(w, park_token, NULL);
    }
    return wt->shielded ? 0 : spool__wait_check_into(t, &wt->newly_fired);
}
