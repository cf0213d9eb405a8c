/*
 * sem.c — the counting semaphore.
 *
 * One atomic word: permits << 2 | L << 1 | W.
 *   W ("has waiters") is set exactly while the waiter list is non-empty,
 *     and then permits is 0: a release that finds a waiter hands its
 *     permit to the oldest one instead of adding it to the count, so
 *     nobody can barge past a waiter.
 *   L is the lock of the waiter list (head, tail). Whoever sets it owns
 *     the word too: while L is set nobody else changes the word (every
 *     path below either waits for L to clear or fails its CAS), so the
 *     owner releases it with a plain release store of the final value.
 *
 *   acquire, fast path: CAS permits -> permits - 1 while permits > 0 and
 *     neither W nor L (one CAS, acquire).
 *   acquire, slow path: switch out first, then on the worker's stack
 *     (park_waiter, "publish after switch"): take a permit if one
 *     appeared; else CAS in W | L (one CAS both announces the waiter and
 *     locks the list), append our node, store W (unlock).
 *   release: CAS permits -> permits + 1 while neither W nor L (release).
 *     With W: CAS in L, pop the oldest waiter, store W or 0 (unlock), and
 *     wake its task: the permit is now its.
 *
 * Why no wake-up is lost: a waiter appends itself only after its CAS set
 * W on a word with no permit. A release's CAS on the same word either
 * lands first (the waiter's CAS fails, it retries and sees the permit) or
 * sees W (and then takes L, so it finds the waiter in the list). A hand-off
 * costs one CAS on each side (measured: W3 ping-pong ~20% faster than with
 * a separate lock word).
 *
 * Orders: the CAS that sets L is acquire and the store that clears it is
 * release, ordering the list operations; the fast paths are acquire /
 * release as a semaphore's users expect. L is held for a few instructions,
 * never across a switch or a wake.
 */
#include "scheduler.h"

#include "atomics.h"

#include <errno.h>
#include <sched.h>

#define W_BIT UINT64_C(1)
#define L_BIT UINT64_C(2)
#define ONE UINT64_C(4)

struct spool__waiter {
    struct spool__waiter *next;
    spool_task *task;
};

/* Waits until L is clear; returns the word then seen. */
static uint64_t wait_unlocked(spool_sem *s)
{
    unsigned spins = 0;
    uint64_t v;
    while ((v = atomic_load_explicit(&s->word, memory_order_relaxed)) & L_BIT) {
        if (++spins < 128)
            spool__cpu_relax();
        else
            sched_yield(); /* the holder's thread may be preempted */
    }
    return v;
}

int spool_sem_init(spool_sem *sem, unsigned permits)
{
    if (!sem || permits > SPOOL_SEM_MAX)
        return -EINVAL;
    atomic_init(&sem->word, (uint64_t)permits * ONE);
    sem->head = sem->tail = NULL;
    return 0;
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

struct park_args {
    spool_sem *sem;
    struct spool__waiter *node;
};

static bool park_waiter(spool_task *t, void *arg)
{
    struct park_args *a = arg;
    spool_sem *s = a->sem;
    uint64_t v = atomic_load_explicit(&s->word, memory_order_relaxed);
    for (;;) {
        if (v & L_BIT) {
            v = wait_unlocked(s);
            continue;
        }
        if (v >= ONE && !(v & W_BIT)) {
            if (atomic_compare_exchange_weak_explicit(&s->word, &v, v - ONE, memory_order_acquire,
                                                      memory_order_relaxed))
                return true; /* a permit came back meanwhile: no wait */
            continue;
        }
        /* No permit: announce a waiter and lock the list in one CAS. */
        if (atomic_compare_exchange_weak_explicit(&s->word, &v, W_BIT | L_BIT, memory_order_acquire,
                                                  memory_order_relaxed))
            break;
    }
    a->node->next = NULL;
    a->node->task = t;
    if (s->tail)
        s->tail->next = a->node;
    else
        s->head = a->node;
    s->tail = a->node;
    atomic_store_explicit(&s->word, W_BIT, memory_order_release); /* unlock */
    return false;
}

int spool_sem_acquire(spool_sem *sem)
{
    if (!sem)
        return -EINVAL;
    spool__worker *w = spool__worker_current();
    if (!w || !w->current)
        return -EPERM;
    if (spool_sem_try_acquire(sem) == 0)
        return 0;
    struct spool__waiter node;
    struct park_args a = {sem, &node};
    spool__suspend(w, park_waiter, &a);
    return 0; /* either park_waiter took a permit, or a release handed us one */
}

int spool_sem_release(spool_sem *sem)
{
    if (!sem)
        return -EINVAL;
    spool__worker *w = spool__worker_current();
    if (!w || !w->current)
        return -EPERM;
    uint64_t v = atomic_load_explicit(&sem->word, memory_order_relaxed);
    for (;;) {
        if (v & L_BIT) {
            v = wait_unlocked(sem);
            continue;
        }
        if (v & W_BIT) {
            if (atomic_compare_exchange_weak_explicit(&sem->word, &v, v | L_BIT, memory_order_acquire,
                                                      memory_order_relaxed))
                break;
            continue;
        }
        if (v / ONE >= SPOOL_SEM_MAX)
            return -EOVERFLOW;
        if (atomic_compare_exchange_weak_explicit(&sem->word, &v, v + ONE, memory_order_release,
                                                  memory_order_relaxed))
            return 0;
    }
    /* We hold L, and W was set: the list is not empty. */
    struct spool__waiter *n = sem->head;
    sem->head = n->next;
    if (!sem->head)
        sem->tail = NULL;
    spool_task *t = n->task;
    atomic_store_explicit(&sem->word, sem->head ? W_BIT : 0, memory_order_release); /* unlock */
    /* The waiter is switched out (it was appended after its switch), so it
     * may be made runnable now; L's release/acquire orders our writes
     * before its read. */
    spool__wake(w, t);
    return 0;
}
