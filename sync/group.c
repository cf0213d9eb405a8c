/*
 * group.c — task groups (asyncio.TaskGroup, Trio's nursery).
 *
 * A group keeps a member per task (malloc'd: the group is off the hot
 * paths, and the task record stays one cache line) with what to run; the
 * task runs group_entry, which calls the user's function and then does the
 * group's bookkeeping from inside the task, before it exits:
 *   1. gives back its place under the limit (a semaphore release);
 *   2. under the group's lock: running -= 1, records the first failure
 *      (cancelling every member), and reads the waiter if running hit 0;
 *   3. unparks that waiter.
 * A task that cannot start (no stack) never runs group_entry: its drop
 * (group_never_ran, see spool_spawn_owned) does the same bookkeeping, on
 * the worker, with the task's -ENOMEM as the member's failure.
 * After step 2's unlock the group may be gone (its waiter saw running == 0
 * and returned), so step 3 touches only the waiter's record, and step 1
 * comes before step 2. The waiter publishes itself under the lock before
 * it checks running, so the last task's step 2 sees it or the waiter sees
 * zero: no lost wake-up. Members' records are joined (freed) by
 * spool_group_wait, which makes the pointers spool_group_spawn returned
 * valid until then.
 */
#include "scheduler.h"
#include "task.h"
#include "wait.h"
#include "waiter.h"
#include "worker.h"

#include <errno.h>
#include <stdlib.h>

struct spool__group_member {
    struct spool__group_member *next;
    spool_group *group;
    spool_task *task; /* the handle spool_group_spawn returned (task.h) */
    spool_fn fn;
    void *arg;
};

int spool_group_init(spool_group *g)
{
    if (!g)
        return -EINVAL;
    atomic_init(&g->lock, 0);
    g->running = 0;
    g->limit = 0;
    g->first_error = 0;
    g->cancelled = 0;
    g->members = NULL;
    g->waiter = NULL;
    spool_sem_init(&g->slots, 0);
    return 0;
}

int spool_group_set_limit(spool_group *g, unsigned n)
{
    if (!g || n > SPOOL_SEM_MAX)
        return -EINVAL;
    spool__spin_lock(&g->lock);
    int rc = g->members || g->waiter ? -EBUSY : 0;
    if (rc == 0) {
        g->limit = n;
        spool_sem_init(&g->slots, n);
    }
    spool__spin_unlock(&g->lock);
    return rc;
}

/* Cancels every member; under the group's lock. */
static void cancel_members(spool_group *g)
{
    g->cancelled = 1;
    for (struct spool__group_member *m = g->members; m; m = m->next)
        spool_task_cancel(m->task);
}

/* The group's bookkeeping for member m, whose task ended with r: steps
 * 1 to 3 above. In the task, or on a worker in no task when the task
 * could not start (group_never_ran); never suspends. */
static void group_member_done(struct spool__group_member *m, int r)
{
    spool_group *g = m->group;
    if (g->limit)
        spool_sem_release(&g->slots); /* 1 */
    spool__spin_lock(&g->lock);      /* 2 */
    bool caused = r == -ECANCELED && (g->cancelled || spool__task_cancel_requested(spool__handle_record(m->task)));
    if (r < 0 && !caused && g->first_error == 0) {
        g->first_error = r;
        cancel_members(g);
    }
    spool_task *waiter = --g->running == 0 ? g->waiter : NULL;
    spool__spin_unlock(&g->lock);
    if (waiter)
        spool__unpark(waiter); /* 3 */
}

static int group_entry(void *arg)
{
    struct spool__group_member *m = arg;
    int r = m->fn(m->arg);
    group_member_done(m, r);
    return r;
}

/* The drop of a member's task (spool__task_never_runs): it could not
 * start (no stack), so group_entry never runs; the member fails with the
 * task's -ENOMEM, or the group would wait for it forever. */
static void group_never_ran(void *arg)
{
    group_member_done(arg, -ENOMEM);
}

spool_task *spool_group_spawn(spool_group *g, spool_fn fn, void *arg)
{
    if (!g || !fn || !spool_in_task())
        return NULL;
    if (g->limit && spool_sem_acquire(&g->slots) != 0)
        return NULL; /* cancelled or timed out while waiting for a place */
    struct spool__group_member *m = malloc(sizeof *m);
    spool__worker *w = spool__worker_current();
    spool_task *t = m ? spool__task_alloc(w) : NULL;
    if (!t) {
        free(m);
        if (g->limit)
            spool_sem_release(&g->slots);
        return NULL;
    }
    *m = (struct spool__group_member){.group = g, .task = spool__task_handle(t), .fn = fn, .arg = arg};
    spool__task_init(t, group_entry, m);
    t->drop = group_never_ran;
    spool__spin_lock(&g->lock);
    m->next = g->members;
    g->members = m;
    g->running++;
    /* A cancelled group's new tasks start cancelled. Relaxed: nobody else
     * has t yet; spool__task_schedule_new's push (release) publishes it. */
    if (g->cancelled)
        atomic_fetch_or_explicit(&t->state, SPOOL__STATE_CANCEL, memory_order_relaxed);
    spool__spin_unlock(&g->lock);
    spool_task *handle = m->task; /* m may be gone once t is scheduled (it runs, and the group is waited) */
    spool__task_schedule_new(w, t);
    return handle;
}

int spool_group_cancel(spool_group *g)
{
    if (!g)
        return -EINVAL;
    spool__spin_lock(&g->lock);
    cancel_members(g);
    spool__spin_unlock(&g->lock);
    return 0;
}

/* Joins (frees) the tasks of a chain of members whose bookkeeping is
 * done, and frees the members. Shielded: the joins are short and must
 * not fail. */
static void join_members(struct spool__group_member *m)
{
    spool_shield_begin();
    while (m) {
        struct spool__group_member *next = m->next;
        spool_join(m->task);
        free(m);
        m = next;
    }
    spool_shield_end();
}

static unsigned running(spool_group *g)
{
    spool__spin_lock(&g->lock);
    unsigned n = g->running;
    spool__spin_unlock(&g->lock);
    return n;
}

int spool_group_wait(spool_group *g)
{
    if (!g)
        return -EINVAL;
    spool_task *self = spool__current_task();
    if (!self)
        return -EPERM;
    spool__spin_lock(&g->lock);
    if (g->waiter) {
        spool__spin_unlock(&g->lock);
        return -EBUSY;
    }
    g->waiter = self;
    spool__spin_unlock(&g->lock);

    spool__wait wt;
    int err = spool__wait_begin(&wt, UINT64_MAX);
    if (err) {
        spool_group_cancel(g);
        spool__wait_begin_shielded(&wt);
    }
    spool__wait_on(&wt, SPOOL__WAIT_GROUP, g); /* for spool_dump */
    int first;
    for (;;) {
        while (running(g) != 0) {
            int rc = spool__wait_park(&wt);
            if (rc && !wt.shielded) { /* joining is ownership: cancel, then wait for all */
                err = rc;
                spool_group_cancel(g);
                wt.shielded = true;
            }
        }
        /* Every member listed has done its bookkeeping. Take the list
         * under the lock (a concurrent spool_group_cancel walks it, and a
         * member may spawn more), join (free) those outside it; done when
         * nothing runs and nothing is listed. */
        spool__spin_lock(&g->lock);
        struct spool__group_member *done = NULL;
        bool finished = g->running == 0 && !g->members;
        if (g->running == 0) {
            done = g->members;
            g->members = NULL;
        }
        if (finished) {
            first = g->first_error;
            g->first_error = 0;
            g->cancelled = 0;
            g->waiter = NULL;
        }
        spool__spin_unlock(&g->lock);
        if (finished)
            break;
        join_members(done);
    }
    spool__wait_end(&wt);
    return err ? err : first;
}
