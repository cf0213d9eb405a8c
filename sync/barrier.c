/*
 * barrier.c — spool_barrier (asyncio.Barrier), on the waiter protocol of
 * waiter.h.
 *
 * Every field is guarded by the barrier's spinlock. Invariants, under it:
 *   - not broken: `arrived` is the number of linked waiters, all of this
 *     round, and is < parties;
 *   - broken: the list is empty (breaking pops everyone) and arrived is 0.
 *
 * A wait, under the lock: on a broken barrier it fails with -EPIPE; else
 * it takes the arrival index `arrived++`. The last party (index parties -
 * 1) pops every waiter of the round, resets arrived to 0 — the next round
 * may start at once: its arrivals go to the emptied list — and, after
 * unlocking, grants them; it returns without parking. Any other party
 * links its node, with its index already in the node's `result`, and
 * awaits the grant.
 *
 * Breaking (a waiter gives up, or abort) sets `broken`, pops every waiter
 * with result -EPIPE, and grants them after unlocking. A waiter that gives
 * up withdraws under the lock: if its node is still linked, the round did
 * not complete and nothing was handed to it, so it breaks the barrier for
 * the others and returns its error; if the node is gone, a last party (or
 * a breaker) popped it and its grant is on the way: it waits for it and
 * returns what it carries (its index, or -EPIPE) — a round that completed
 * is never undone. A task that is already cancelled or past a deadline
 * when it calls wait gives up before arriving (Trio: its waits fail even
 * when they could complete), which breaks the barrier too: the contract
 * is that a party that gives up breaks it for the others, who would
 * otherwise wait for it forever.
 *
 * Orders: the spinlock's acquire / release chain every arrival of a round
 * into the last party's critical section, and its grants (release stores
 * read with acquire) carry that on to every waiter: whatever any party
 * wrote before its wait is visible to every party after the wait returns.
 */
#include "wait.h"
#include "waiter.h"

#include <errno.h>
#include <limits.h>

int spool_barrier_init(spool_barrier *barrier, unsigned parties)
{
    /* An index must fit the int a wait returns. */
    if (!barrier || parties == 0 || parties > (unsigned)INT_MAX)
        return -EINVAL;
    atomic_init(&barrier->lock, 0);
    barrier->parties = parties;
    barrier->arrived = 0;
    barrier->broken = 0;
    barrier->waiters.head = barrier->waiters.tail = NULL;
    return 0;
}

/* Detaches every waiter (under the lock) and starts a new round. With
 * `broken`, each waiter's result becomes -EPIPE; else each keeps its
 * index. Returns the chain, to grant after unlocking. */
static struct spool__waiter *take_all(spool_barrier *b, bool broken)
{
    static const int epipe = -EPIPE;
    b->arrived = 0;
    return spool__list_take_all(&b->waiters, broken ? &epipe : NULL);
}

/* Breaks the barrier: every waiter gets -EPIPE, and so does every wait
 * until a reset. */
static void break_barrier(spool_barrier *b)
{
    spool__spin_lock(&b->lock);
    b->broken = 1;
    struct spool__waiter *all = take_all(b, true);
    spool__spin_unlock(&b->lock);
    spool__waiter_grant_chain(all);
}

static bool withdraw(void *object, struct spool__waiter *n)
{
    spool_barrier *b = object;
    spool__spin_lock(&b->lock);
    bool linked = n->linked;
    struct spool__waiter *all = NULL;
    if (linked) {
        spool__list_remove(&b->waiters, n);
        b->broken = 1;
        all = take_all(b, true);
    }
    spool__spin_unlock(&b->lock);
    spool__waiter_grant_chain(all);
    return linked;
}

int spool_barrier_wait(spool_barrier *barrier)
{
    if (!barrier)
        return -EINVAL;
    spool__wait wt;
    int rc = spool__wait_begin(&wt, UINT64_MAX);
    if (rc) {
        if (rc != -EPERM)
            break_barrier(barrier); /* gave up before arriving */
        return rc;
    }
    struct spool__waiter node;
    spool__waiter_init(&node, wt.task);
    spool__spin_lock(&barrier->lock);
    if (barrier->broken || barrier->parties == 0) {
        int err = barrier->broken ? -EPIPE : -EINVAL; /* parties 0: SPOOL_BARRIER_INIT(0) */
        spool__spin_unlock(&barrier->lock);
        spool__wait_end(&wt);
        return err;
    }
    unsigned index = barrier->arrived++;
    if (barrier->arrived == barrier->parties) {
        struct spool__waiter *all = take_all(barrier, false);
        spool__spin_unlock(&barrier->lock);
        spool__waiter_grant_chain(all);
        spool__wait_end(&wt);
        return (int)index;
    }
    node.result = (int)index;
    spool__list_append(&barrier->waiters, &node);
    spool__spin_unlock(&barrier->lock);
    spool__wait_on(&wt, SPOOL__WAIT_BARRIER, barrier); /* for spool_dump */
    rc = spool__waiter_await(&node, &wt, withdraw, barrier);
    spool__wait_end(&wt);
    return rc ? rc : node.result;
}

int spool_barrier_abort(spool_barrier *barrier)
{
    if (!barrier)
        return -EINVAL;
    break_barrier(barrier);
    return 0;
}

int spool_barrier_reset(spool_barrier *barrier)
{
    if (!barrier)
        return -EINVAL;
    spool__spin_lock(&barrier->lock);
    if (!spool__list_empty(&barrier->waiters)) {
        spool__spin_unlock(&barrier->lock);
        return -EBUSY;
    }
    barrier->broken = 0;
    barrier->arrived = 0;
    spool__spin_unlock(&barrier->lock);
    return 0;
}
