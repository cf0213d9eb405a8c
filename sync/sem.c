/*
 * sem.c — the counting semaphore (and, through it, spool_lock).
 *
 * One atomic word: permits << 2 | L << 1 | W.
 *   W ("has waiters") is set exactly while the waiter list is non-empty,
 *     and then permits is 0: a release that finds a waiter hands its
 *     permit to the oldest one instead of adding it to the count, so
 *     nobody can barge past a waiter.
 *   L is the lock of the waiter list. Whoever sets it owns the word too:
 *     while L is set nobody else changes the word (every path below either
 *     waits for L to clear or fails its CAS), so the owner releases it
 *     with a plain release store of the final value.
 *
 *   acquire, fast path: CAS permits -> permits - 1 while permits > 0 and
 *     neither W nor L (one CAS, acquire).
 *   acquire, slow path: one CAS both announces a waiter and locks the list
 *     (W | L, on a word with no permit), append our node, store W
 *     (unlock); then await the grant (waiter.h). A waiter that gives up
 *     withdraws under L and clears W if the list became empty.
 *   release: CAS permits -> permits + 1 while neither W nor L (release).
 *     With W: CAS in L, pop the oldest waiter, store W or 0 (unlock), and
 *     grant it: the permit is now its.
 *
 * Why no wake-up is lost: a waiter appends itself only after its CAS set
 * W on a word with no permit. A release's CAS on the same word either
 * lands first (the waiter's CAS fails, it retries and sees the permit) or
 * sees W (and then takes L, so it finds the waiter in the list). A waiter
 * that withdraws has, by then, either been popped (then the grant, and the
 * permit, are its: it keeps them) or not (then nobody handed it anything).
 *
 * Orders: the CAS that sets L is acquire and the store that clears it is
 * release, ordering the list operations; the fast paths are acquire /
 * release as a semaphore's users expect; the grant is a release store the
 * waiter reads with acquire.
 */
#include "sem.h"

#include "waiter.h"

#include <errno.h>

#define W_BIT UINT64_C(1)
#define L_BIT UINT64_C(2)
#define ONE UINT64_C(4)

static int init(spool_sem *sem, unsigned permits, uint64_t max)
{
    if (!sem || permits > SPOOL_SEM_MAX)
        return -EINVAL;
    atomic_init(&sem->word, (uint64_t)permits * ONE);
    sem->waiters.head = sem->waiters.tail = NULL;
    sem->max = max;
    return 0;
}

int spool_sem_init(spool_sem *sem, unsigned permits)
{
    return init(sem, permits, SPOOL_SEM_MAX);
}

int spool_sem_init_bounded(spool_sem *sem, unsigned permits)
{
    return init(sem, permits, permits);
}

int spool_sem_try_acquire(spool_sem *sem)
{
    if (!sem)
        return -EINVAL;
    uint64_t v = atomic_load_explicit(&sem->word, memory_order_relaxed);
    while (v >= ONE && !(v & (W_BIT | L_BIT)))
        if (atomic_compare_exchange_weak_explicit(&sem->word, &v, v - ONE, memory_order_acquire,
                                                  memory_order_relaxed))
            return 0;
    return -EAGAIN;
}

unsigned spool_sem_value(const spool_sem *sem)
{
    return sem ? (unsigned)(atomic_load_explicit(&sem->word, memory_order_relaxed) / ONE) : 0;
}

/* Takes L; returns the word (with L clear) as it was. */
static uint64_t lock_list(spool_sem *s)
{
    uint64_t v = atomic_load_explicit(&s->word, memory_order_relaxed);
    for (;;) {
        if (v & L_BIT) {
            v = spool__spin_while(&s->word, L_BIT);
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(&s->word, &v, v | L_BIT, memory_order_acquire,
                                                  memory_order_relaxed))
            return v;
    }
}

/* Releases L with the list's W bit and no permit (W implies none). */
static void unlock_list(spool_sem *s, uint64_t permits_word)
{
    atomic_store_explicit(&s->word, spool__list_empty(&s->waiters) ? permits_word : W_BIT, memory_order_release);
}

static bool withdraw(void *object, struct spool__waiter *n)
{
    spool_sem *s = object;
    uint64_t v = lock_list(s);
    bool linked = n->linked;
    if (linked)
        spool__list_remove(&s->waiters, n);
    unlock_list(s, v & ~(W_BIT | L_BIT));
    return linked;
}

/* spool_sem_acquire, and spool__sem_acquire_as with `as` (NULL: the wait
 * is this semaphore). Inlined into both, so that each keeps its own frame
 * in spool_dump's backtraces (a tail call would leave none). */
static inline __attribute__((always_inline)) int acquire(spool_sem *sem, const spool__wait *as)
{
    if (!sem)
        return -EINVAL;
    spool__wait wt;
    int rc = spool__wait_begin(&wt, UINT64_MAX);
    if (rc)
        return rc;
    if (spool_sem_try_acquire(sem) == 0)
        return 0; /* nothing armed: no spool__wait_end needed */
    struct spool__waiter node;
    spool__waiter_init(&node, wt.task);
    uint64_t v = atomic_load_explicit(&sem->word, memory_order_relaxed);
    for (;;) {
        if (v & L_BIT) {
            v = spool__spin_while(&sem->word, L_BIT);
            continue;
        }
        if (v >= ONE && !(v & W_BIT)) {
            if (atomic_compare_exchange_weak_explicit(&sem->word, &v, v - ONE, memory_order_acquire,
                                                      memory_order_relaxed)) {
                spool__wait_end(&wt);
                return 0; /* a permit came back meanwhile */
            }
            continue;
        }
        /* No permit: announce a waiter and lock the list in one CAS. */
        if (atomic_compare_exchange_weak_explicit(&sem->word, &v, W_BIT | L_BIT, memory_order_acquire,
                                                  memory_order_relaxed))
            break;
    }
    spool__list_append(&sem->waiters, &node);
    atomic_store_explicit(&sem->word, W_BIT, memory_order_release); /* unlock */
    /* For spool_dump. A semaphore of one permit at most is what spool_lock
     * is (lock.c). */
    if (as) {
        spool__wait_on(&wt, (spool__wait_kind)as->kind, as->obj);
        wt.fd = as->fd;
        wt.op = as->op;
    } else {
        spool__wait_on(&wt, sem->max == 1 ? SPOOL__WAIT_LOCK : SPOOL__WAIT_SEM, sem);
    }
    rc = spool__waiter_await(&node, &wt, withdraw, sem);
    spool__wait_end(&wt);
    return rc;
}

int spool_sem_acquire(spool_sem *sem)
{
    return acquire(sem, NULL);
}

int spool__sem_acquire_as(spool_sem *sem, const spool__wait *as)
{
    return acquire(sem, as);
}

int spool_sem_release(spool_sem *sem)
{
    if (!sem)
        return -EINVAL;
    uint64_t v = atomic_load_explicit(&sem->word, memory_order_relaxed);
    for (;;) {
        if (v & L_BIT) {
            v = spool__spin_while(&sem->word, L_BIT);
            continue;
        }
        if (v & W_BIT) {
            if (atomic_compare_exchange_weak_explicit(&sem->word, &v, v | L_BIT, memory_order_acquire,
                                                      memory_order_relaxed))
                break;
            continue;
        }
        if (v / ONE >= sem->max)
            return -EOVERFLOW;
        if (atomic_compare_exchange_weak_explicit(&sem->word, &v, v + ONE, memory_order_release,
                                                  memory_order_relaxed))
            return 0;
    }
    /* We hold L, and W was set: the list is not empty. */
    struct spool__waiter *n = spool__list_pop(&sem->waiters);
    unlock_list(sem, 0);
    spool__waiter_grant(n);
    return 0;
}
