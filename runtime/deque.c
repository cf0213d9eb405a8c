/*
 * deque.c — the Chase-Lev deque (see deque.h).
 *
 * Memory orders, by pair (PPoPP'13, with the release fence of push folded
 * into a release store of `bottom`, which ThreadSanitizer understands):
 *  - push: slot store (relaxed), then `bottom` store (release) -> steal's
 *    acquire load of `bottom`: a thief that sees the new bottom sees the
 *    slot and everything the pusher wrote into the task before.
 *  - take: `bottom` store, seq_cst fence, `top` load; steal: `top` load,
 *    seq_cst fence, `bottom` load. The two fences make the pair a Dekker
 *    handshake: owner and thief cannot both miss each other's claim on the
 *    last task, and the CAS on `top` (seq_cst) decides who gets it.
 *  - every task leaves the deque through a successful CAS on `top` or
 *    through take's bottom decrement that the fences protect; either way
 *    exactly one worker gets it.
 * Slots are atomics read relaxed; the orders above carry them.
 */
#include "deque.h"

#include "atomics.h"
#include "task.h"

void spool__deque_init(spool__deque *d)
{
    atomic_init(&d->top, 0);
    atomic_init(&d->bottom, 0);
    for (int i = 0; i < SPOOL_DEQUE_CAP; i++)
        atomic_init(&d->buf[i], NULL);
}

spool_task *spool__deque_steal(spool__deque *d, int *lost)
{
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    spool__fence_seq_cst();
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_acquire);
    if (t >= b)
        return NULL;
    spool_task *x = atomic_load_explicit(&d->buf[t & SPOOL_DEQUE_MASK], memory_order_relaxed);
    if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed)) {
        *lost = 1;
        return NULL;
    }
    return x;
}

spool_task *spool__deque_push(spool__deque *d, spool_task *task, spool_task **last, uint32_t *count)
{
    spool_task *first = NULL, *prev = NULL;
    uint32_t n = 0;
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    if (b - t >= SPOOL_DEQUE_CAP) {
        /* Full: take the older half from our own top, the way a thief
         * would, and hand it to the caller for the inject queue. */
        while (n < SPOOL_DEQUE_CAP / 2) {
            int lost = 0;
            spool_task *x = spool__deque_steal(d, &lost);
            if (!x) {
                if (lost)
                    continue;
                break;
            }
            if (prev)
                atomic_store_explicit(&prev->next, x, memory_order_relaxed);
            else
                first = x;
            prev = x;
            n++;
        }
        if (prev)
            atomic_store_explicit(&prev->next, NULL, memory_order_relaxed);
        *last = prev;
        *count = n;
    }
    atomic_store_explicit(&d->buf[b & SPOOL_DEQUE_MASK], task, memory_order_relaxed);
    atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
    return first;
}

spool_task *spool__deque_take(spool__deque *d)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    atomic_store_explicit(&d->bottom, b, memory_order_relaxed);
    spool__fence_seq_cst();
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    /* Restoring stores are release, like push's: a thief that acquires
     * `bottom` then synchronises with this thread whichever store it read. */
    if (t > b) { /* empty */
        atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
        return NULL;
    }
    spool_task *x = atomic_load_explicit(&d->buf[b & SPOOL_DEQUE_MASK], memory_order_relaxed);
    if (t == b) {
        /* The last task: race the thieves for it on `top`. */
        if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                     memory_order_relaxed))
            x = NULL;
        atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
    }
    return x;
}

spool_task *spool__deque_steal_half(spool__deque *src, spool__deque *dst)
{
    int64_t want = spool__deque_len(src);
    want -= want / 2; /* half, rounded up */
    int64_t room = SPOOL_DEQUE_CAP - spool__deque_len(dst);
    if (want > room)
        want = room;
    spool_task *first = NULL;
    unsigned retries = 0;
    for (int64_t i = 0; i < want; i++) {
        int lost = 0;
        spool_task *x = spool__deque_steal(src, &lost);
        if (!x) {
            if (lost && retries++ < 2) {
                i--; /* lost a race to another taker: the work may still be there */
                continue;
            }
            break;
        }
        if (!first) {
            first = x;
            continue;
        }
        /* dst has room (checked above), so this never overflows. */
        spool_task *unused_last;
        uint32_t unused_count;
        spool__deque_push(dst, x, &unused_last, &unused_count);
    }
    return first;
}
