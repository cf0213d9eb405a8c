/*
 * runq.c — the local run queue (the protocol is described in runq.h).
 *
 * Memory orders, by pair:
 *  - owner's release store of `tail` (push) -> thief's acquire load of
 *    `tail` (steal): the slots below tail are written before a thief reads
 *    them.
 *  - thief's acq_rel CAS that ends a steal (steal := real) -> owner's
 *    acquire load of `head` (push): the thief has finished reading the
 *    slots it claimed before the owner may overwrite them.
 *  - every CAS on `head` is acq_rel: it both claims slots and publishes
 *    that the claim is over.
 * Slots are atomics accessed relaxed: the orders above carry them.
 */
#include "runq.h"

#include "task.h"

static inline uint32_t real_of(uint64_t h) { return (uint32_t)h; }
static inline uint32_t steal_of(uint64_t h) { return (uint32_t)(h >> 32); }
static inline uint64_t pack(uint32_t steal, uint32_t real) { return (uint64_t)steal << 32 | real; }

void spool__runq_init(spool__runq *q)
{
    atomic_init(&q->head, 0);
    atomic_init(&q->tail, 0);
    for (uint32_t i = 0; i < SPOOL_RUNQ_CAP; i++)
        atomic_init(&q->buf[i], NULL);
}

spool_task *spool__runq_push(spool__runq *q, spool_task *t, spool_task **last, uint32_t *count)
{
    uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed); /* our own */
    for (;;) {
        uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
        uint32_t steal = steal_of(h), real = real_of(h);
        if (tail - steal < SPOOL_RUNQ_CAP) {
            atomic_store_explicit(&q->buf[tail & SPOOL_RUNQ_MASK], t, memory_order_relaxed);
            atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
            return NULL;
        }
        if (steal != real) {
            /* A thief is copying: it will free room soon, but we cannot
             * take half now. Overflow just t. */
            atomic_store_explicit(&t->next, NULL, memory_order_relaxed);
            *last = t;
            *count = 1;
            return t;
        }
        /* Full: claim the older half and send it, with t, to the inject
         * queue, so the ring has room again and others can find the work. */
        const uint32_t n = SPOOL_RUNQ_CAP / 2;
        if (!atomic_compare_exchange_strong_explicit(&q->head, &h, pack(real + n, real + n),
                                                     memory_order_acq_rel, memory_order_acquire))
            continue; /* a thief took some: there may be room now */
        spool_task *first = atomic_load_explicit(&q->buf[real & SPOOL_RUNQ_MASK], memory_order_relaxed);
        spool_task *prev = first;
        for (uint32_t i = 1; i < n; i++) {
            spool_task *cur = atomic_load_explicit(&q->buf[(real + i) & SPOOL_RUNQ_MASK], memory_order_relaxed);
            atomic_store_explicit(&prev->next, cur, memory_order_relaxed);
            prev = cur;
        }
        atomic_store_explicit(&prev->next, t, memory_order_relaxed);
        atomic_store_explicit(&t->next, NULL, memory_order_relaxed);
        *last = t;
        *count = n + 1;
        return first;
    }
}

spool_task *spool__runq_pop(spool__runq *q)
{
    uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed); /* our own */
    uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    for (;;) {
        uint32_t steal = steal_of(h), real = real_of(h);
        if (real == tail)
            return NULL;
        uint32_t next_real = real + 1;
        /* While a thief holds [steal, real), steal must stay where it is. */
        uint32_t next_steal = steal == real ? next_real : steal;
        if (atomic_compare_exchange_weak_explicit(&q->head, &h, pack(next_steal, next_real),
                                                  memory_order_acq_rel, memory_order_acquire))
            return atomic_load_explicit(&q->buf[real & SPOOL_RUNQ_MASK], memory_order_relaxed);
    }
}

spool_task *spool__runq_steal(spool__runq *src, spool__runq *dst)
{
    uint32_t dst_tail = atomic_load_explicit(&dst->tail, memory_order_relaxed); /* our own */
    uint32_t dst_steal = steal_of(atomic_load_explicit(&dst->head, memory_order_acquire));
    if (dst_tail - dst_steal > SPOOL_RUNQ_CAP / 2)
        return NULL; /* we have plenty; stealing more would only overflow */

    /* 1. Claim [real, real + n) by moving real while steal stays behind. */
    uint64_t h = atomic_load_explicit(&src->head, memory_order_acquire);
    uint32_t first, n;
    for (;;) {
        uint32_t steal = steal_of(h), real = real_of(h);
        if (steal != real)
            return NULL; /* another thief is at work */
        uint32_t tail = atomic_load_explicit(&src->tail, memory_order_acquire);
        n = tail - real;
        n -= n / 2; /* half, rounded up */
        if (n == 0)
            return NULL;
        if (n > SPOOL_RUNQ_CAP / 2)
            n = SPOOL_RUNQ_CAP / 2;
        if (atomic_compare_exchange_weak_explicit(&src->head, &h, pack(steal, real + n),
                                                  memory_order_acq_rel, memory_order_acquire)) {
            first = real;
            break;
        }
    }
    /* 2. Copy. The owner cannot overwrite these slots: it counts capacity
     *    from steal, which still points at `first`. */
    for (uint32_t i = 0; i < n; i++) {
        spool_task *t = atomic_load_explicit(&src->buf[(first + i) & SPOOL_RUNQ_MASK], memory_order_relaxed);
        atomic_store_explicit(&dst->buf[(dst_tail + i) & SPOOL_RUNQ_MASK], t, memory_order_relaxed);
    }
    /* 3. End the claim: steal catches up with real (which the owner may have
     *    moved meanwhile by popping). */
    h = atomic_load_explicit(&src->head, memory_order_acquire);
    for (;;) {
        uint32_t real = real_of(h);
        if (atomic_compare_exchange_weak_explicit(&src->head, &h, pack(real, real),
                                                  memory_order_acq_rel, memory_order_acquire))
            break;
    }
    /* 4. Keep the last one to run now; publish the others. */
    n--;
    spool_task *ret = atomic_load_explicit(&dst->buf[(dst_tail + n) & SPOOL_RUNQ_MASK], memory_order_relaxed);
    if (n)
        atomic_store_explicit(&dst->tail, dst_tail + n, memory_order_release);
    return ret;
}

uint32_t spool__runq_len(spool__runq *q)
{
    uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    uint32_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
    return tail - real_of(h);
}

uint32_t spool__runq_room(spool__runq *q)
{
    uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    return SPOOL_RUNQ_CAP - (tail - steal_of(h));
}
