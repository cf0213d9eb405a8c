/*
 * sem.c — the counting semaphore.
 *
 * `word` = permits << 1 | W, where W ("has waiters") is set only while the
 * waiter list is non-empty, and permits is 0 whenever W is set: a release
 * that finds a waiter hands its permit to that waiter directly instead of
 * adding it to the count, so nobody can barge past a waiter.
 *
 *   acquire, fast path: CAS permits -> permits - 1 while permits > 0 and
 *     !W (one CAS, acquire).
 *   acquire, slow path: switch out first, then on the worker's stack
 *     (park_waiter, "publish after switch"): under the list lock, take a
 *     permit if one appeared, else set W and append our node.
 *   release: CAS permits -> permits + 1 while !W (release). With W set:
 *     under the lock pop the oldest waiter, clear W if the list emptied,
 *     and wake its task: the permit is now its.
 *
 * W changes only under the lock, and a waiter is appended only under the
 * lock with W set, so a release either sees W (and finds the waiter in the
 * list, since it takes the same lock) or its CAS succeeds before W is set
 * (and the waiter's CAS under the lock then sees the permit). The lock is
 * held for a handful of instructions, never across a switch.
 */
#include "scheduler.h"

#include "atomics.h"

#include <errno.h>
#include <sched.h>

#define W_BIT UINT64_C(1)
#define ONE UINT64_C(2)

struct spool__waiter {
    struct spool__waiter *next;
    spool_task *task;
};

static void lock(spool_sem *s)
{
    unsigned spins = 0;
    while (atomic_exchange_explicit(&s->lock, 1, memory_order_acquire)) {
        while (atomic_load_explicit(&s->lock, memory_order_relaxed)) {
            if (++spins < 128)
                spool__cpu_relax();
            else
                sched_yield(); /* the holder's thread may be preempted */
        }
    }
}

static void unlock(spool_sem *s)
{
    atomic_store_explicit(&s->lock, 0, memory_order_release);
}

int spool_sem_init(spool_sem *sem, unsigned permits)
{
    if (!sem || permits > SPOOL_SEM_MAX)
        return -EINVAL;
    atomic_init(&sem->word, (uint64_t)permits << 1);
    atomic_init(&sem->lock, 0);
    sem->head = sem->tail = NULL;
    return 0;
}

int spool_sem_try_acquire(spool_sem *sem)
{
    if (!sem)
        return -EINVAL;
    uint64_t v = atomic_load_explicit(&sem->word, memory_order_relaxed);
    while (v >= ONE && !(v & W_BIT))
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
    lock(s);
    uint64_t v = atomic_load_explicit(&s->word, memory_order_relaxed);
    for (;;) {
        if (v >= ONE && !(v & W_BIT)) {
            if (atomic_compare_exchange_weak_explicit(&s->word, &v, v - ONE, memory_order_acquire,
                                                      memory_order_relaxed)) {
                unlock(s);
                return true; /* a permit came back meanwhile: no wait */
            }
            continue;
        }
        if (v & W_BIT)
            break;
        /* v == 0: announce a waiter. Releases CAS on the same word, so a
         * concurrent one either lands first (we retry) or sees W. */
        if (atomic_compare_exchange_weak_explicit(&s->word, &v, W_BIT, memory_order_relaxed,
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
    unlock(s);
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
        if (v & W_BIT)
            break;
        if ((v >> 1) >= SPOOL_SEM_MAX)
            return -EOVERFLOW;
        if (atomic_compare_exchange_weak_explicit(&sem->word, &v, v + ONE, memory_order_release,
                                                  memory_order_relaxed))
            return 0;
    }
    lock(sem);
    if (!(atomic_load_explicit(&sem->word, memory_order_relaxed) & W_BIT)) {
        /* Another release emptied the list between our load and the lock. */
        unlock(sem);
        return spool_sem_release(sem);
    }
    struct spool__waiter *n = sem->head;
    /* W is set and only cleared under this lock: the list is not empty. */
    sem->head = n->next;
    if (!sem->head) {
        sem->tail = NULL;
        atomic_store_explicit(&sem->word, 0, memory_order_release);
    }
    spool_task *t = n->task;
    unlock(sem);
    /* The waiter is switched out (it was appended after its switch), so it
     * may be made runnable now; the lock orders our writes before its read. */
    spool__wake(w, t);
    return 0;
}
