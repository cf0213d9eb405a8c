/*
 * waiter.h — what every sync object's waiters share: the waiter node (on
 * the waiter's stack), the FIFO list of them, a spinlock for the list, and
 * the two halves of a hand-off: grant (waker) and await (waiter).
 *
 * The protocol, the same for every object:
 *   waiter: under the object's lock, find the condition false and append
 *     its node; unlock; await: park until the node is GRANTED. If its wait
 *     is cancelled or times out, it withdraws: under the lock, a node
 *     still linked is unlinked (nothing was handed to it: the error is
 *     returned); a node no longer linked was popped by a waker whose grant
 *     is on its way: it waits for the grant (shielded) and succeeds, so a
 *     permit, an item or a wake-up is never lost.
 *   waker: under the lock, pop the oldest node (unlinked, so no withdraw
 *     can take it back) and fill in what it hands over (result, item);
 *     after unlocking, grant it: read its task, store GRANTED (release),
 *     then unpark the task (or futex-wake a plain thread). The grant store
 *     is the waker's last touch of the node: the waiter may return (and
 *     its stack frame go) as soon as it sees GRANTED.
 *
 * Locks are held for a few instructions, never across a park, a wake-up
 * or a system call.
 */
#ifndef SPOOL_WAITER_H
#define SPOOL_WAITER_H

#include "wait.h"

#include <spool/spool.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define SPOOL__WAITER_WAITING 0u
#define SPOOL__WAITER_GRANTED 1u

struct spool__waiter {
    struct spool__waiter *prev, *next; /* under the object's lock */
    spool_task *task;                  /* NULL: a plain thread, asleep on `state` */
    _Atomic uint32_t state;            /* WAITING, then GRANTED (by the waker, release) */
    bool linked;                       /* in the list; under the lock */
    int result;                        /* filled in by the waker before the grant */
    void *item;                        /* a queue item, either way */
};

/* A node for the calling task (task NULL: a plain thread). */
static inline void spool__waiter_init(struct spool__waiter *n, spool_task *task)
{
    n->prev = n->next = NULL;
    n->task = task;
    atomic_init(&n->state, SPOOL__WAITER_WAITING);
    n->linked = false;
    n->result = 0;
    n->item = NULL;
}

/* List operations, under the object's lock. */
void spool__list_append(spool__wait_list *l, struct spool__waiter *n);
struct spool__waiter *spool__list_pop(spool__wait_list *l); /* NULL if empty */
void spool__list_remove(spool__wait_list *l, struct spool__waiter *n);
static inline bool spool__list_empty(const spool__wait_list *l)
{
    return l->head == NULL;
}

/* Unlinks every node of l (each is then "popped": a withdraw waits for
 * its grant), setting each one's result to *result unless result is
 * NULL; returns them as a chain through `next`. Under the lock. */
struct spool__waiter *spool__list_take_all(spool__wait_list *l, const int *result);
/* Grants every node of such a chain, after unlocking; returns how many. */
unsigned spool__waiter_grant_chain(struct spool__waiter *chain);
/* The usual withdraw: under `lock`, unlinks n from l if it is still
 * linked; true if it was. */
bool spool__list_withdraw(_Atomic uint32_t *lock, spool__wait_list *l, struct spool__waiter *n);

/* A lock word (0 free, 1 held): one exchange when free; under
 * contention, exponential backoff, then spinning that yields the CPU. */
void spool__spin_lock_contended(_Atomic uint32_t *lock);
static inline void spool__spin_lock(_Atomic uint32_t *lock)
{
    if (__builtin_expect(atomic_exchange_explicit(lock, 1, memory_order_acquire), 0))
        spool__spin_lock_contended(lock);
}
static inline void spool__spin_unlock(_Atomic uint32_t *lock)
{
    atomic_store_explicit(lock, 0, memory_order_release);
}
/* Spins, then yields the CPU (a holder's thread may be preempted), while
 * *word has any bit of `mask` set; returns the value then seen. */
uint64_t spool__spin_while(const _Atomic uint64_t *word, uint64_t mask);

/* The waker's half: n was popped under the lock; hands it over. Any
 * thread. */
void spool__waiter_grant(struct spool__waiter *n);

/* Withdraws n if it is still linked; true if it was (the object's lock is
 * taken inside). */
typedef bool (*spool__withdraw_fn)(void *object, struct spool__waiter *n);

/* The waiter's half, for a task: n is linked and wt begun. Returns 0 once
 * granted, or the wait's error once n was withdrawn. */
int spool__waiter_await(struct spool__waiter *n, spool__wait *wt, spool__withdraw_fn withdraw, void *object);

/* The waiter's half, for a plain thread (no cancellation, no timeout). */
void spool__waiter_await_thread(struct spool__waiter *n);

#endif /* SPOOL_WAITER_H */
