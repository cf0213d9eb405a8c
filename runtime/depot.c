/*
 * depot.c — the balancing store of depot.h.
 */
#include "depot.h"

#include <stdlib.h>
#include <string.h>

void spool__depot_init(spool__depot *d)
{
    pthread_mutex_init(&d->mu, NULL);
    d->items = NULL;
    d->len = d->cap = 0;
    atomic_init(&d->wanted, 0u);
    atomic_init(&d->level, 0);
}

void spool__depot_destroy(spool__depot *d)
{
    free(d->items);
    d->items = NULL;
    d->len = d->cap = 0;
    pthread_mutex_destroy(&d->mu);
}

size_t spool__depot_put(spool__depot *d, void *const items[], size_t n)
{
    if (n == 0)
        return 0; /* nothing given: no request answered */
    pthread_mutex_lock(&d->mu);
    if (d->len + n > d->cap) {
        size_t cap = d->cap ? d->cap : 256;
        while (cap < d->len + n)
            cap *= 2;
        void **grown = realloc(d->items, cap * sizeof *grown);
        if (grown) {
            d->items = grown;
            d->cap = cap;
        } else {
            n = d->cap - d->len;
        }
    }
    if (n) /* memcpy wants valid pointers even for 0 bytes */
        memcpy(d->items + d->len, items, n * sizeof *items);
    d->len += n;
    atomic_store_explicit(&d->level, d->len, memory_order_relaxed);
    /* Under the mutex: requests change only here and in take. */
    unsigned wanted = atomic_load_explicit(&d->wanted, memory_order_relaxed);
    if (wanted)
        atomic_store_explicit(&d->wanted, wanted - 1, memory_order_relaxed);
    pthread_mutex_unlock(&d->mu);
    return n;
}

size_t spool__depot_take(spool__depot *d, void *out[], size_t max, bool ask)
{
    /* A depot that is empty and has counted every request it can (or is
     * not being asked) has nothing to do under its mutex: say so without
     * taking it. This is the common case while the runtime grows (100,000
     * tasks starting at once: every stack carved takes this path on both
     * depots), and without it the two workers take turns on the depots'
     * mutexes once per stack instead of once per batch (depot.h). Relaxed
     * reads, hints as everywhere here: a batch put an instant ago and not
     * seen costs the caller one allocation, and a request not counted is
     * not lost, as `wanted` is already at its cap. */
    if (atomic_load_explicit(&d->level, memory_order_relaxed) == 0 &&
        (!ask || atomic_load_explicit(&d->wanted, memory_order_relaxed) >= SPOOL_DEPOT_MAX_WANTED))
        return 0;
    pthread_mutex_lock(&d->mu);
    size_t n = d->len < max ? d->len : max;
    d->len -= n;
    atomic_store_explicit(&d->level, d->len, memory_order_relaxed);
    if (n)
        memcpy(out, d->items + d->len, n * sizeof *out);
    else if (ask && atomic_load_explicit(&d->wanted, memory_order_relaxed) < SPOOL_DEPOT_MAX_WANTED)
        atomic_store_explicit(&d->wanted, atomic_load_explicit(&d->wanted, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    pthread_mutex_unlock(&d->mu);
    return n;
}
