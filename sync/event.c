/*
 * event.c — spool_event: a flag and the list of tasks waiting for it.
 *
 * `set` is read without the lock by is_set and by the waiter's first
 * check; every change of the list, and the set that empties it, happens
 * under the lock, so a waiter that finds the flag clear under the lock is
 * in the list before any set can look at it. A set pops every waiter
 * under the lock and grants them after unlocking (the grants unpark
 * tasks, which may take a system call).
 */
#include "wait.h"
#include "waiter.h"

#include <errno.h>

int spool_event_init(spool_event *ev)
{
    if (!ev)
        return -EINVAL;
    atomic_init(&ev->lock, 0);
    atomic_init(&ev->set, 0);
    ev->waiters.head = ev->waiters.tail = NULL;
    return 0;
}

int spool_event_set(spool_event *ev)
{
    if (!ev)
        return -EINVAL;
    spool__spin_lock(&ev->lock);
    atomic_store_explicit(&ev->set, 1, memory_order_release);
    struct spool__waiter *all = spool__list_take_all(&ev->waiters, NULL);
    spool__spin_unlock(&ev->lock);
    spool__waiter_grant_chain(all);
    return 0;
}

int spool_event_clear(spool_event *ev)
{
    if (!ev)
        return -EINVAL;
    atomic_store_explicit(&ev->set, 0, memory_order_relaxed);
    return 0;
}

int spool_event_is_set(const spool_event *ev)
{
    if (!ev)
        return -EINVAL;
    return atomic_load_explicit(&ev->set, memory_order_acquire);
}

static bool withdraw(void *object, struct spool__waiter *n)
{
    spool_event *ev = object;
    return spool__list_withdraw(&ev->lock, &ev->waiters, n);
}

int spool_event_wait(spool_event *ev)
{
    if (!ev)
        return -EINVAL;
    spool__wait wt;
    int rc = spool__wait_begin(&wt, UINT64_MAX);
    if (rc)
        return rc;
    if (atomic_load_explicit(&ev->set, memory_order_acquire)) {
        spool__wait_end(&wt);
        return 0;
    }
    struct spool__waiter node;
    spool__waiter_init(&node, wt.task);
    spool__spin_lock(&ev->lock);
    if (atomic_load_explicit(&ev->set, memory_order_relaxed)) {
        spool__spin_unlock(&ev->lock);
        spool__wait_end(&wt);
        return 0;
    }
    spool__list_append(&ev->waiters, &node);
    spool__spin_unlock(&ev->lock);
    spool__wait_on(&wt, SPOOL__WAIT_EVENT, ev); /* for spool_dump */
    rc = spool__waiter_await(&node, &wt, withdraw, ev);
    spool__wait_end(&wt);
    return rc;
}
