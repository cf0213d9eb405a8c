/*
 * inject.c — the lock-free inject queue (see inject.h).
 *
 * Invariant: the list runs from `head` (owned by the consumer) through
 * ->next links to `tail`; the stub is in it whenever it would otherwise be
 * empty. A producer first swings `tail` to its last task (acq_rel exchange:
 * it orders after the previous producer's exchange and publishes its own
 * links), then links the previous tail to its first task (release store,
 * pairing with the consumer's acquire load of ->next). Between those two
 * steps the list is cut: the consumer sees next == NULL before `tail` and
 * must come back later; `len` (incremented before the exchange) tells it
 * there is something to come back for, so a worker never parks on a queue
 * that is only momentarily cut.
 */
#include "inject.h"

#include <sched.h>

void spool__inject_init(spool__inject *q)
{
    atomic_init(&q->stub.next, NULL);
    atomic_init(&q->tail, &q->stub);
    atomic_init(&q->len, 0);
    q->head = &q->stub;
    atomic_init(&q->consuming, false);
}

void spool__inject_push(spool__inject *q, spool_task *first, spool_task *last, uint32_t count)
{
    atomic_fetch_add_explicit(&q->len, count, memory_order_relaxed);
    atomic_store_explicit(&last->next, NULL, memory_order_relaxed);
    spool_task *prev = atomic_exchange_explicit(&q->tail, last, memory_order_acq_rel);
    atomic_store_explicit(&prev->next, first, memory_order_release);
}

/* One task, or NULL when empty or cut. Consumer only. */
static spool_task *pop_one(spool__inject *q)
{
    spool_task *head = q->head;
    spool_task *next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (head == &q->stub) {
        if (!next)
            return NULL;
        q->head = head = next;
        next = atomic_load_explicit(&head->next, memory_order_acquire);
    }
    if (next) {
        q->head = next;
        return head;
    }
    /* head is the last linked task. If it is also the tail, put the stub
     * behind it so head can be handed out; otherwise a producer is between
     * its two steps. */
    if (head != atomic_load_explicit(&q->tail, memory_order_acquire))
        return NULL;
    spool__inject_push(q, &q->stub, &q->stub, 0);
    next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (next) {
        q->head = next;
        return head;
    }
    return NULL;
}

uint32_t spool__inject_pop(spool__inject *q, spool_task **out, uint32_t max)
{
    if (max == 0 || atomic_load_explicit(&q->len, memory_order_relaxed) <= 0)
        return 0;
    if (atomic_exchange_explicit(&q->consuming, true, memory_order_acquire))
        return 0;
    uint32_t n = 0;
    unsigned cuts = 0;
    while (n < max) {
        spool_task *t = pop_one(q);
        if (t) {
            out[n++] = t;
            continue;
        }
        /* Empty, or cut by a producer in mid-push: len says which. A cut
         * heals within a few instructions unless the producer's thread was
         * preempted, so spin briefly, then yield the CPU to it. */
        if (n > 0 || atomic_load_explicit(&q->len, memory_order_acquire) <= 0)
            break;
        if (++cuts > 64)
            sched_yield();
    }
    if (n)
        atomic_fetch_sub_explicit(&q->len, n, memory_order_relaxed);
    atomic_store_explicit(&q->consuming, false, memory_order_release);
    return n;
}
