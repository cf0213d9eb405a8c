/*
 * cancel.c — cancellation, shields and timeout scopes: the public side of
 * what every wait checks (wait.c, spool__wait_check).
 *
 * A cancellation is a flag on the task (level-triggered: it is never
 * consumed) plus an unpark, so a task parked anywhere re-checks at once.
 * A timeout scope is a frame on the task's stack, linked from the task;
 * its effective deadline is the nearest of its own and its enclosing
 * scopes' (up to a shield), computed once at enter, so a wait needs one
 * comparison. Scopes and shields belong to the task: only it touches them.
 */
#include "task.h"
#include "wait.h"

#include <errno.h>

int spool_task_cancel(spool_task *handle)
{
    if (!handle)
        return -EINVAL;
    spool_task *task = spool__handle_record(handle);
    if (spool__handle_stale(handle, task))
        return -EINVAL; /* joined, or detached and ended: the record is not its task's any more */
    if (atomic_load_explicit(&task->join, memory_order_acquire) == SPOOL__JOIN_DONE)
        return 0; /* over: nothing to interrupt */
    /* Release: whatever the canceller wrote before is visible to the
     * task's waits; the unpark (a release RMW) makes a parked task look. */
    atomic_fetch_or_explicit(&task->state, SPOOL__STATE_CANCEL, memory_order_release);
    spool__unpark(task);
    return 0;
}

int spool_cancelled(void)
{
    spool_task *t = spool__current_task();
    if (!t || t->shield)
        return 0;
    return spool__task_cancel_requested(t) || atomic_load_explicit(&t->u.run.rt->cancelling, memory_order_acquire);
}

int spool_shield_begin(void)
{
    spool_task *t = spool__current_task();
    if (!t)
        return -EPERM;
    t->shield++;
    return 0;
}

int spool_shield_end(void)
{
    spool_task *t = spool__current_task();
    if (!t)
        return -EPERM;
    if (t->shield == 0)
        return -EINVAL;
    t->shield--;
    return 0;
}

/* The effective deadline of a scope with its own deadline `own`, entered
 * now by t. */
static uint64_t effective_deadline(const spool_task *t, uint64_t own)
{
    const spool_timeout *outer = t->u.run.scope;
    if (outer && outer->shield_depth == t->shield && outer->effective < own)
        return outer->effective;
    return own;
}

int spool_timeout_enter_at(spool_timeout *to, uint64_t deadline_ns)
{
    if (!to)
        return -EINVAL;
    spool_task *t = spool__current_task();
    if (!t)
        return -EPERM;
    to->outer = t->u.run.scope;
    to->deadline = deadline_ns;
    to->effective = effective_deadline(t, deadline_ns);
    to->shield_depth = t->shield;
    to->fired = 0;
    to->task = t;
    t->u.run.scope = to;
    return 0;
}

static uint64_t deadline_after(uint64_t timeout_ns)
{
    if (timeout_ns == SPOOL_FOREVER)
        return UINT64_MAX;
    uint64_t now = spool_now_ns();
    return timeout_ns > UINT64_MAX - 1 - now ? UINT64_MAX - 1 : now + timeout_ns;
}

int spool_timeout_enter(spool_timeout *to, uint64_t timeout_ns)
{
    return spool_timeout_enter_at(to, deadline_after(timeout_ns));
}

int spool_timeout_exit(spool_timeout *to)
{
    spool_task *t = spool__current_task();
    if (!t)
        return -EPERM;
    if (!to || t->u.run.scope != to)
        return -EINVAL;
    t->u.run.scope = to->outer;
    return to->fired ? -ETIMEDOUT : 0;
}

int spool_timeout_reschedule(spool_timeout *to, uint64_t timeout_ns)
{
    spool_task *t = spool__current_task();
    if (!t)
        return -EPERM;
    if (!to || to->task != t)
        return -EINVAL;
    /* Only the innermost scope may move: inner scopes computed their
     * effective deadlines from this one's. */
    if (t->u.run.scope != to)
        return -EINVAL;
    uint64_t own = deadline_after(timeout_ns);
    t->u.run.scope = to->outer;
    to->deadline = own;
    to->effective = effective_deadline(t, own);
    t->u.run.scope = to;
    return 0;
}
