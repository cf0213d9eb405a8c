/*
 * timer.h — a worker's timer heap: a binary min-heap of (deadline, task).
 *
 * Ownership: the heap belongs to one worker. A task that sleeps inserts
 * itself into the heap of the worker it runs on, before it switches out;
 * only that worker pops, in its scheduler loop, so no entry can fire before
 * the sleeper's registers are saved. The worker parks with the nearest
 * deadline as the timeout of its ring wait.
 */
#ifndef SPOOL_TIMER_H
#define SPOOL_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct spool_task spool_task;

typedef struct spool__timer_entry {
    uint64_t deadline; /* CLOCK_MONOTONIC ns */
    spool_task *task;
    uint32_t seq;      /* the task's wait_seq during the wait it times (wait.c) */
} spool__timer_entry;

typedef struct spool__timer_heap {
    spool__timer_entry *v;
    size_t len, cap;
} spool__timer_heap;

void spool__timer_heap_init(spool__timer_heap *h);
void spool__timer_heap_destroy(spool__timer_heap *h);
/* 0, or -ENOMEM when the heap cannot grow (nothing inserted). Before it
 * grows, the heap drops its stale entries (waits that ended early), so
 * timeouts that never fire cost memory only until the heap next fills.
 * Owner only. */
int spool__timer_push(spool__timer_heap *h, uint64_t deadline, spool_task *t, uint32_t seq);
/* The earliest entry due at `now`, removed, into *out; false if none. */
bool spool__timer_pop_due(spool__timer_heap *h, uint64_t now, spool__timer_entry *out);
/* Whether an entry's wait is still in progress (acquire: pairs with
 * spool__wait_end's release). */
bool spool__timer_entry_live(const spool__timer_entry *e);
/* The earliest deadline, or UINT64_MAX when empty. */
static inline uint64_t spool__timer_next(const spool__timer_heap *h)
{
    return h->len ? h->v[0].deadline : UINT64_MAX;
}

#endif /* SPOOL_TIMER_H */
