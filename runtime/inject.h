/*
 * inject.h — the runtime's global inject queue: where a full deque
 * overflows to, where yields go, and where work from outside the pool
 * arrives.
 *
 * Producers never lock: a push is one atomic exchange on `tail` plus one
 * store (Vyukov's intrusive MPSC queue), and a whole chain of tasks goes in
 * with the same two steps. Consumers are the workers; one at a time drains
 * it, behind a try-lock (`consuming`) that a worker who loses simply skips,
 * so nobody ever waits on it. `len` lets the scheduler test for emptiness
 * with one load.
 */
#ifndef SPOOL_INJECT_H
#define SPOOL_INJECT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "atomics.h"
#include "task.h"

typedef struct spool__inject {
    _Alignas(SPOOL__CACHE_LINE) _Atomic(spool_task *) tail; /* producers: exchange */
    _Atomic int64_t len;                     /* tasks pushed and not yet popped */
    _Alignas(SPOOL__CACHE_LINE) spool_task *head;           /* the consumer holding `consuming` */
    _Atomic bool consuming;                  /* the consumer try-lock */
    spool_task stub;                         /* keeps the list non-empty */
} spool__inject;

void spool__inject_init(spool__inject *q);

/* Appends the chain first..last (count tasks, linked through ->next).
 * Any thread. */
void spool__inject_push(spool__inject *q, spool_task *first, spool_task *last, uint32_t count);

/* Takes up to max tasks in FIFO order into out[]; returns how many. Returns
 * 0 if empty or another worker is draining. Any worker. */
uint32_t spool__inject_pop(spool__inject *q, spool_task **out, uint32_t max);

static inline int64_t spool__inject_len(spool__inject *q)
{
    return atomic_load_explicit(&q->len, memory_order_acquire);
}

#endif /* SPOOL_INJECT_H */
