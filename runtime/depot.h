/*
 * depot.h — a runtime-wide store of free items (stacks, task records) that
 * keeps the per-worker caches balanced.
 *
 * Items are taken from the cache of the worker where they are needed and
 * returned to the cache of the worker where they are done with: a stack is
 * taken where its task first runs and returned where it exits; a record is
 * taken by the spawner's worker and returned by the joiner's. When tasks
 * keep moving one way, one cache would grow without bound while another
 * keeps allocating. So a cache that runs dry takes a batch from the depot
 * before it allocates anything new, and a cache past its cap hands a batch
 * over while the depot is low (below SPOOL_DEPOT_LOW items), and all its
 * excess when a cache found the depot empty (`wanted`). The depot thus
 * stays stocked while tasks flow one way, and a burst of frees on one
 * worker (a gather of a million tasks) moves only SPOOL_DEPOT_LOW items. Spilling only on demand keeps a burst of frees on one worker (a
 * gather of a million tasks) from moving items nobody asked for.
 *
 * The depot is a mutex-protected array of pointers: it is touched once per
 * batch (dozens to hundreds of items), never per item on the hot path.
 * Any thread. Items are not owned by the depot: they belong to the chunks
 * and slabs of the pools that made them, which outlive it.
 */
#ifndef SPOOL_DEPOT_H
#define SPOOL_DEPOT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct spool__depot {
    pthread_mutex_t mu;
    void **items;
    size_t len, cap;
    /* Batches asked for by caches that ran dry and found the depot empty
     * (at most SPOOL_DEPOT_MAX_WANTED). Relaxed: a hint, read on every free
     * of a cache past its cap and by a take that may skip the mutex; a
     * missed or stale one costs an allocation or a spill, never
     * correctness. Written only under mu. */
    _Atomic unsigned wanted;
    /* len, for lock-free reading (the same relaxed hint, read by
     * spool__depot_low and by take's empty check); written under mu. No
     * item is ever reached through it: items move only under mu. */
    _Atomic size_t level;
} spool__depot;

#define SPOOL_DEPOT_MAX_WANTED 64u
/* Below this many items the depot asks the caches past their caps for
 * more (a few batches: enough to answer a dry cache without it waiting). */
#define SPOOL_DEPOT_LOW 1024u

/* Whether some cache found the depot empty (see above). */
static inline bool spool__depot_wanted(spool__depot *d)
{
    return atomic_load_explicit(&d->wanted, memory_order_relaxed) != 0;
}

/* Whether the depot wants stock (relaxed hints, like `wanted`). */
static inline bool spool__depot_low(spool__depot *d)
{
    return atomic_load_explicit(&d->level, memory_order_relaxed) < SPOOL_DEPOT_LOW ||
           spool__depot_wanted(d);
}

void spool__depot_init(spool__depot *d);
void spool__depot_destroy(spool__depot *d);
/* Stores items[0..n), answering one request. Returns how many it took: fewer
 * than n only if its array cannot grow (the caller keeps the rest). */
size_t spool__depot_put(spool__depot *d, void *const items[], size_t n);
/* Moves up to max items into out[]; returns how many. Counts a request if
 * it had none and `ask` (a cache that ran dry asks; a purge does not).
 * Empty, with nothing to count (not asked, or SPOOL_DEPOT_MAX_WANTED
 * requests counted), it returns 0 without taking its mutex. */
size_t spool__depot_take(spool__depot *d, void *out[], size_t max, bool ask);

#endif /* SPOOL_DEPOT_H */
