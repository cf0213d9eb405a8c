/*
 * cond.c — spool_cond: a condition variable used with a spool_lock
 * (asyncio.Condition), on the waiter protocol of waiter.h.
 *
 * The list of waiting tasks is guarded by the cond's spinlock; the user's
 * lock guards the user's predicate. A wait:
 *   1. checks (EINVAL, EPERM: outside a task or the lock not held) and
 *      begins the wait (a task already cancelled, or past a deadline in
 *      force, fails here, still holding the lock: nothing was released);
 *   2. links its node on the cond, under the spinlock, while it still
 *      holds the user's lock;
 *   3. releases the user's lock;
 *   4. awaits the grant (spool__waiter_await, withdrawing on cancellation
 *      or timeout);
 *   5. takes the user's lock again, inside a shield, whatever 4 said.
 *
 * Why no notify is lost: a notifier calls with the lock held (as the
 * contract asks), so it runs either before step 3 — and then, since step
 * 2 came first, it finds the node — or after the waiter's release, when
 * the node is linked too. Even a notifier that does not hold the lock
 * finds every node linked before it looked, since linking and popping
 * both happen under the spinlock.
 *
 * Why nothing is duplicated or dropped: notify pops a node under the
 * spinlock and grants it after unlocking; a waiter that gives up
 * withdraws under the spinlock. Exactly one of the two takes the node.
 * If the notifier took it, the waiter's withdraw fails and it waits for
 * the grant (shielded) and returns 0: the notify was consumed by a waiter
 * that reports it, so the notifier's count ("woken") is exact, and the
 * cancellation is reported by the task's next wait. If the waiter took
 * it, no notifier counted it.
 *
 * Why the re-acquire cannot fail: spool_shield_begin() raises the task's
 * shield depth, so neither its cancellation nor any timeout scope entered
 * before (the only ones there are: we enter none) is in force during
 * spool_lock_acquire, and an unbounded wait never needs a timer entry
 * (no -ENOMEM). The caller therefore always holds the lock on return.
 *
 * Orders: the spinlock's acquire / release order the list operations;
 * the grant is a release store the waiter reads with acquire
 * (spool__waiter_await); the user's data is ordered by the user's lock
 * (a release hands it over with release / acquire, sem.c).
 */
#include "wait.h"
#include "waiter.h"

#include <errno.h>

int spool_cond_init(spool_cond *cond)
{
    if (!cond)
        return -EINVAL;
    atomic_init(&cond->lock, 0);
    cond->waiters.head = cond->waiters.tail = NULL;
    return 0;
}

static bool withdraw(void *object, struct spool__waiter *n)
{
    spool_cond *cond = object;
    return spool__list_withdraw(&cond->lock, &cond->waiters, n);
}

/* Takes the lock again, immune to cancellation and timeouts. */
static void reacquire(spool_lock *lock)
{
    spool_shield_begin();
    int rc = spool_lock_acquire(lock);
    spool_shield_end();
    /* Shielded and unbounded, the acquire only fails if the lock is not a
     * lock (a corrupted or uninitialised object); nothing to do then. */
    (void)rc;
}

int spool_cond_wait(spool_cond *cond, spool_lock *lock)
{
    if (!cond || !lock)
        return -EINVAL;
    if (!spool__current_task())
        return -EPERM;
    if (!spool_lock_locked(lock))
        return -EPERM;
    spool__wait wt;
    int rc = spool__wait_begin(&wt, UINT64_MAX);
    if (rc)
        return rc; /* cancelled or timed out: the lock was never released */
    struct spool__waiter node;
    spool__waiter_init(&node, wt.task);
    spool__spin_lock(&cond->lock);
    spool__list_append(&cond->waiters, &node);
    spool__spin_unlock(&cond->lock);
    if (spool_lock_release(lock) != 0) {
        /* Someone else released the lock since we looked (a misuse: the
         * caller did not hold it). Take our node back; if a notify popped
         * it meanwhile, take its grant and pass the wake-up on. */
        if (!withdraw(cond, &node)) {
            wt.shielded = true;
            while (atomic_load_explicit(&node.state, memory_order_acquire) != SPOOL__WAITER_GRANTED)
                spool__wait_park(&wt);
            spool_cond_notify(cond);
        }
        spool__wait_end(&wt);
        return -EPERM;
    }
    spool__wait_on(&wt, SPOOL__WAIT_COND, cond); /* for spool_dump */
    rc = spool__waiter_await(&node, &wt, withdraw, cond);
    spool__wait_end(&wt);
    reacquire(lock);
    return rc;
}

int spool_cond_notify(spool_cond *cond)
{
    if (!cond)
        return -EINVAL;
    spool__spin_lock(&cond->lock);
    struct spool__waiter *n = spool__list_pop(&cond->waiters);
    spool__spin_unlock(&cond->lock);
    if (!n)
        return 0;
    spool__waiter_grant(n);
    return 1;
}

int spool_cond_notify_all(spool_cond *cond)
{
    if (!cond)
        return -EINVAL;
    spool__spin_lock(&cond->lock);
    struct spool__waiter *all = spool__list_take_all(&cond->waiters, NULL);
    spool__spin_unlock(&cond->lock);
    return (int)spool__waiter_grant_chain(all);
}
