/*
 * runq.h — a worker's local run queue: a bounded lock-free FIFO ring that
 * its owner pushes to and pops from, and that other workers steal half of.
 *
 * The shape is Tokio's queue (and Go's runq): `tail` is written only by the
 * owner; `head` packs two 32-bit indices, `real` (the next task to hand
 * out) and `steal` (where the slots a thief is still copying begin). While
 * steal != real a thief owns [steal, real) and no other thief may start, and
 * the owner must not overwrite those slots, so capacity is counted from
 * `steal`. Indices wrap at 2^32; capacity is a power of two well below.
 *
 * Why a FIFO ring and not a Chase-Lev deque: the scheduler keeps LIFO
 * locality through a separate one-task LIFO slot (scheduler.c), so the queue
 * itself is the fair, FIFO part; thieves take half in one claim instead of
 * one task per CAS; and the fixed ring needs no reclamation of resized
 * arrays. See docs/design.md for the measurements.
 */
#ifndef SPOOL_RUNQ_H
#define SPOOL_RUNQ_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct spool_task spool_task;

/* 256 slots, as in Tokio and Go: deep enough that a spawn burst rarely
 * overflows, small enough that stealing half stays cheap. SPOOL_RUNQ_CAP
 * may be lowered (power of two >= 4) to reach the edge cases in tests. */
#ifndef SPOOL_RUNQ_CAP
#define SPOOL_RUNQ_CAP 256u
#endif
#define SPOOL_RUNQ_MASK (SPOOL_RUNQ_CAP - 1)

typedef struct spool__runq {
    _Alignas(64) _Atomic uint64_t head; /* steal << 32 | real; any worker (CAS) */
    _Alignas(64) _Atomic uint32_t tail; /* owner writes (release), thieves read (acquire) */
    _Atomic(spool_task *) buf[SPOOL_RUNQ_CAP]; /* slot i: written by the owner before publishing tail */
} spool__runq;

void spool__runq_init(spool__runq *q);

/* Appends t. If the ring is full, moves half of it plus t into a chain and
 * returns its first task (the rest linked through ->next, *last set to the
 * final one) for the caller to push onto the inject queue; otherwise NULL.
 * Owner only. */
spool_task *spool__runq_push(spool__runq *q, spool_task *t, spool_task **last, uint32_t *count);

/* Takes the oldest task, or NULL if empty. Owner only. */
spool_task *spool__runq_pop(spool__runq *q);

/* Moves about half of src's tasks into dst (which must be the caller's own
 * queue) and returns one of them to run now; NULL if there was nothing to
 * take, another thief was busy, or dst is over half full. Any worker. */
spool_task *spool__runq_steal(spool__runq *src, spool__runq *dst);

/* Tasks in the queue, approximately if others are stealing. Any worker. */
uint32_t spool__runq_len(spool__runq *q);

/* Free slots, exact for the owner. Owner only. */
uint32_t spool__runq_room(spool__runq *q);

#endif /* SPOOL_RUNQ_H */
