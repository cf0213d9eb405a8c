/*
 * queue.c — spool_queue: a bounded MPMC FIFO of pointers in a ring the
 * caller provides, with FIFO lists of waiting getters and putters.
 *
 * One spinlock (`lock`, spool__spin_lock's word, taken with a short
 * backoff under contention: waiter.c) guards everything: the ring
 * (head, len), `closed` and both lists. Nothing is held across a park, a
 * grant or a system call.
 *
 * Invariants, under the lock:
 *   getters non-empty  =>  len == 0      (a put hands its item straight to
 *                                         the oldest getter)
 *   putters non-empty  =>  len == cap    (a get that takes an item moves
 *                                         the oldest putter's item in)
 *   closed             =>  both lists empty (close empties them; nobody
 *                                         waits on a closed queue)
 * so a newcomer never barges past a waiter: a put finds room only when no
 * putter waits, a get finds an item only when no getter waits.
 *
 * Hand-offs (waiter.h's protocol: pop under the lock, fill in, grant after
 * unlocking):
 *   put:  a waiting getter?  pop it, node->item = item, grant: it is its.
 *         room in the ring?  append.
 *         else               wait as a putter with node->item = item; a
 *                            get pops the node, moves the item into the
 *                            ring and grants it ("taken", result 0).
 *   get:  an item in the ring?  take the oldest; a waiting putter?  pop
 *                               it, append its item, grant it.
 *         a waiting putter (only with cap 0, which the static
 *         initialiser allows: then the queue is a rendezvous)?  take its
 *         item, grant it.
 *         closed?  -EPIPE.
 *         else     wait as a getter; a put pops the node, sets
 *                  node->item and grants it.
 *   close: closed = 1; pop every waiter, result -EPIPE (a putter's item
 *          was not queued; getters only wait on an empty queue), grant
 *          them. The items in the ring stay for the gets to drain.
 *
 * Giving up (cancellation, timeout): the waiter withdraws under the lock.
 * A node still linked is removed, and nothing was handed over (the error
 * is returned, the putter's item was not queued). A node no longer linked
 * was popped: the hand-off already happened under the lock that popped it
 * (the getter's item is in its node, the putter's item is in the ring or
 * with a getter), so the wait returns that outcome (0, or -EPIPE from
 * close) and the next wait reports the cancellation. Nothing is lost or
 * duplicated.
 *
 * Waits check cancellation and timeout scopes first (spool__wait_begin),
 * even when the queue could serve at once (a checkpoint, as in Trio); the
 * try_ variants never check. The _blocking variants are the same logic
 * for plain threads: a node with task NULL, slept on with a futex.
 *
 * `len` is written with relaxed atomic stores (always under the lock) so
 * that spool_queue_len may read it from any thread without the lock.
 */
#include "wait.h"
#include "waiter.h"

#include <errno.h>

/* ---- the lock ------------------------------------------------------------------ */

/* spool__spin_lock's word (with its backoff under contention: waiter.c). */
static inline void queue_lock(spool_queue *q)
{
    spool__spin_lock(&q->lock);
}

static inline void queue_unlock(spool_queue *q)
{
    spool__spin_unlock(&q->lock);
}

int spool_queue_init(spool_queue *q, void **slots, size_t n)
{
    if (!q || !slots || n == 0)
        return -EINVAL;
    atomic_init(&q->lock, 0);
    q->closed = 0;
    q->slots = slots;
    q->cap = n;
    q->head = 0;
    q->len = 0;
    q->getters.head = q->getters.tail = NULL;
    q->putters.head = q->putters.tail = NULL;
    return 0;
}

size_t spool_queue_len(const spool_queue *q)
{
    return q ? __atomic_load_n(&q->len, __ATOMIC_RELAXED) : 0;
}

/* ---- the ring, under the lock ----------------------------------------------- */

static inline void set_len(spool_queue *q, size_t len)
{
    __atomic_store_n(&q->len, len, __ATOMIC_RELAXED);
}

/* Appends item; the caller made sure len < cap. */
static inline void ring_push(spool_queue *q, void *item)
{
    size_t i = q->head + q->len;
    if (i >= q->cap)
        i -= q->cap;
    q->slots[i] = item;
    set_len(q, q->len + 1);
}

/* Takes the oldest item; the caller made sure len > 0. */
static inline void *ring_pop(spool_queue *q)
{
    void *item = q->slots[q->head];
    if (++q->head == q->cap)
        q->head = 0;
    set_len(q, q->len - 1);
    return item;
}

/* ---- the two halves that never wait, under the lock ------------------------- */

/* What a put or a get did without waiting. */
enum {
    DONE = 0,   /* served; *grant (if not NULL) is to be granted after unlocking */
    MUST_WAIT = 1,
};

/* Puts item if it can be done without waiting. Returns DONE (with *grant
 * the getter it went to, or NULL), MUST_WAIT, or -EPIPE. */
static inline int put_locked(spool_queue *q, void *item, struct spool__waiter **grant)
{
    *grant = NULL;
    if (q->closed)
        return -EPIPE;
    /* Getters wait only on an empty ring (so a busy queue never reads
     * the list). */
    struct spool__waiter *g = q->len == 0 ? spool__list_pop(&q->getters) : NULL;
    if (g) {
        g->item = item;
        g->result = 0;
        *grant = g;
        return DONE;
    }
    if (q->len < q->cap) {
        ring_push(q, item);
        return DONE;
    }
    return MUST_WAIT;
}

/* Gets the oldest item into *item if it can be done without waiting.
 * Returns DONE (with *grant the putter whose item was taken, or NULL),
 * MUST_WAIT, or -EPIPE (closed and drained). */
static inline int get_locked(spool_queue *q, void **item, struct spool__waiter **grant)
{
    *grant = NULL;
    if (q->len > 0) {
        /* Putters wait only on a full ring (so a busy queue never reads
         * the list, which may sit on another cache line). */
        bool was_full = q->len == q->cap;
        *item = ring_pop(q);
        struct spool__waiter *p = was_full ? spool__list_pop(&q->putters) : NULL;
        if (p) {
            ring_push(q, p->item);
            p->result = 0;
            *grant = p;
        }
        return DONE;
    }
    struct spool__waiter *p = spool__list_pop(&q->putters);
    if (p) { /* cap 0: straight from the putter */
        *item = p->item;
        p->result = 0;
        *grant = p;
        return DONE;
    }
    return q->closed ? -EPIPE : MUST_WAIT;
}

static bool withdraw_getter(void *object, struct spool__waiter *n)
{
    spool_queue *q = object;
    return spool__list_withdraw(&q->lock, &q->getters, n);
}

static bool withdraw_putter(void *object, struct spool__waiter *n)
{
    spool_queue *q = object;
    return spool__list_withdraw(&q->lock, &q->putters, n);
}

/* ---- put ---------------------------------------------------------------------- */

int spool_queue_try_put(spool_queue *q, void *item)
{
    if (!q)
        return -EINVAL;
    struct spool__waiter *g;
    queue_lock(q);
    int rc = put_locked(q, item, &g);
    queue_unlock(q);
    if (g)
        spool__waiter_grant(g);
    return rc == MUST_WAIT ? -EAGAIN : rc;
}

int spool_queue_put(spool_queue *q, void *item)
{
    if (!q)
        return -EINVAL;
    spool__wait wt;
    int rc = spool__wait_begin(&wt, UINT64_MAX); /* -EPERM, -ECANCELED, -ETIMEDOUT */
    if (rc)
        return rc;
    struct spool__waiter node, *g;
    queue_lock(q);
    rc = put_locked(q, item, &g);
    if (rc == MUST_WAIT) {
        spool__waiter_init(&node, wt.task);
        node.item = item;
        spool__list_append(&q->putters, &node);
    }
    queue_unlock(q);
    if (rc == MUST_WAIT) {
        spool__wait_on(&wt, SPOOL__WAIT_QUEUE_PUT, q); /* for spool_dump */
        rc = spool__waiter_await(&node, &wt, withdraw_putter, q);
        if (rc == 0)
            rc = node.result; /* 0 taken, -EPIPE closed */
    } else if (g) {
        spool__waiter_grant(g);
    }
    spool__wait_end(&wt);
    return rc;
}

int spool_queue_put_blocking(spool_queue *q, void *item)
{
    if (!q)
        return -EINVAL;
    if (spool_in_task())
        return -EPERM;
    struct spool__waiter node, *g;
    queue_lock(q);
    int rc = put_locked(q, item, &g);
    if (rc == MUST_WAIT) {
        spool__waiter_init(&node, NULL);
        node.item = item;
        spool__list_append(&q->putters, &node);
    }
    queue_unlock(q);
    if (rc == MUST_WAIT) {
        spool__waiter_await_thread(&node);
        rc = node.result;
    } else if (g) {
        spool__waiter_grant(g);
    }
    return rc;
}

/* ---- get ---------------------------------------------------------------------- */

int spool_queue_try_get(spool_queue *q, void **item)
{
    if (!q || !item)
        return -EINVAL;
    struct spool__waiter *p;
    queue_lock(q);
    int rc = get_locked(q, item, &p);
    queue_unlock(q);
    if (p)
        spool__waiter_grant(p);
    return rc == MUST_WAIT ? -EAGAIN : rc;
}

int spool_queue_get(spool_queue *q, void **item)
{
    if (!q || !item)
        return -EINVAL;
    spool__wait wt;
    int rc = spool__wait_begin(&wt, UINT64_MAX);
    if (rc)
        return rc;
    struct spool__waiter node, *p;
    queue_lock(q);
    rc = get_locked(q, item, &p);
    if (rc == MUST_WAIT) {
        spool__waiter_init(&node, wt.task);
        spool__list_append(&q->getters, &node);
    }
    queue_unlock(q);
    if (rc == MUST_WAIT) {
        spool__wait_on(&wt, SPOOL__WAIT_QUEUE_GET, q); /* for spool_dump */
        rc = spool__waiter_await(&node, &wt, withdraw_getter, q);
        if (rc == 0 && (rc = node.result) == 0)
            *item = node.item;
    } else if (p) {
        spool__waiter_grant(p);
    }
    spool__wait_end(&wt);
    return rc;
}

int spool_queue_get_blocking(spool_queue *q, void **item)
{
    if (!q || !item)
        return -EINVAL;
    if (spool_in_task())
        return -EPERM;
    struct spool__waiter node, *p;
    queue_lock(q);
    int rc = get_locked(q, item, &p);
    if (rc == MUST_WAIT) {
        spool__waiter_init(&node, NULL);
        spool__list_append(&q->getters, &node);
    }
    queue_unlock(q);
    if (rc == MUST_WAIT) {
        spool__waiter_await_thread(&node);
        if ((rc = node.result) == 0)
            *item = node.item;
    } else if (p) {
        spool__waiter_grant(p);
    }
    return rc;
}

/* ---- close -------------------------------------------------------------------- */


int spool_queue_close(spool_queue *q)
{
    if (!q)
        return -EINVAL;
    static const int epipe = -EPIPE;
    queue_lock(q);
    q->closed = 1;
    struct spool__waiter *putters = spool__list_take_all(&q->putters, &epipe);
    struct spool__waiter *getters = spool__list_take_all(&q->getters, &epipe);
    queue_unlock(q);
    spool__waiter_grant_chain(putters);
    spool__waiter_grant_chain(getters);
    return 0;
}
