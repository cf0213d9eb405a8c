/*
 * deque.h — a worker's local run queue: a bounded Chase-Lev work-stealing
 * deque. The owner pushes and takes at the bottom (newest first, so
 * fork-join runs depth-first and a task's children run while its stack is
 * warm); thieves steal at the top (oldest first: the biggest pieces of
 * work, furthest from the owner's cache).
 *
 * The algorithm and its C11 orders are those of Lê, Pop, Cohen and Zappa
 * Nardelli, "Correct and Efficient Work-Stealing for Weak Memory Models"
 * (PPoPP 2013), with a fixed array instead of a growable one: a full
 * deque overflows half of its oldest tasks to the inject queue (as Go and
 * Tokio do), so no array ever needs reclaiming. Indices are int64_t, so
 * `bottom - 1` on an empty deque is -1, never a wrapped huge number.
 *
 * Why not the FIFO ring of Tokio and Go (our first version, measured on W2
 * fib_fork, docs/design.md): with the owner taking the oldest task, a
 * fork-join tree unfolds breadth-first, so tens of thousands of suspended
 * parents each hold a stack at once (121 MiB peak RSS and 30,000 page
 * faults for fib(25)); LIFO for the owner keeps that to the tree's depth.
 * Fairness, which FIFO gave for free, comes from the scheduler instead:
 * yields go to the global FIFO, an exhausted LIFO budget lets the newest
 * queued task run, and a task left at the top of a deque for 1 ms runs
 * next (scheduler.c).
 */
#ifndef SPOOL_DEQUE_H
#define SPOOL_DEQUE_H

#include "atomics.h"

#include <stdatomic.h>
#include <stdint.h>

typedef struct spool_task spool_task;

/* 256 slots, as Tokio's and Go's run queues: deep enough that a spawn
 * burst rarely overflows, small enough that the array stays in cache.
 * May be lowered (a power of two >= 4) to reach edge cases in tests. */
#ifndef SPOOL_DEQUE_CAP
#define SPOOL_DEQUE_CAP 256
#endif
#define SPOOL_DEQUE_MASK (SPOOL_DEQUE_CAP - 1)

typedef struct spool__deque {
    _Alignas(SPOOL__CACHE_LINE) _Atomic int64_t top;    /* thieves and owner CAS it upwards */
    _Alignas(SPOOL__CACHE_LINE) _Atomic int64_t bottom; /* written by the owner only */
    _Atomic(spool_task *) buf[SPOOL_DEQUE_CAP];
} spool__deque;

void spool__deque_init(spool__deque *d);

/* Pushes t at the bottom. If the deque is full, first moves its older half
 * to a chain (linked through ->next; *last and *count describe it) and
 * returns the chain's first task for the caller to hand to the inject
 * queue; otherwise returns NULL. Owner only. */
spool_task *spool__deque_push(spool__deque *d, spool_task *t, spool_task **last, uint32_t *count);

/* Takes the newest task, or NULL if empty. Owner only. */
spool_task *spool__deque_take(spool__deque *d);

/* Takes the oldest task. Returns NULL if empty, or if it lost a race with
 * another taker (then *lost is set: the deque may still hold work). Any
 * worker, the owner included. */
spool_task *spool__deque_steal(spool__deque *d, int *lost);

/* Moves about half of src's tasks into dst (the caller's own deque) and
 * returns one of them to run now, or NULL if it found nothing. Any worker
 * but src's owner. */
spool_task *spool__deque_steal_half(spool__deque *src, spool__deque *dst);

/* Tasks in the deque (a snapshot: thieves may be taking some). Any worker. */
static inline int64_t spool__deque_len(spool__deque *d)
{
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_acquire);
    return b > t ? b - t : 0;
}

#endif /* SPOOL_DEQUE_H */
