/*
 * depot.h — a runtime-wide store of free items (stacks, task records) that
 * keeps the per-worker caches balanced.
 *
 * Items are taken from the cache of the worker where they are needed and
 * returned to the cache of the worker where they are done with: a stack is
 * taken where its task first runs and returned where it exits; a record is
 * taken by the spawner's worker and returned by the joiner's. When tasks
 * keep moving one way, one cache would grow without bound while another
 * keeps allocating. So a cache that grows past its cap hands a batch to
 * the depot, and a cache that runs dry takes a batch from it before it
 * allocates anything new.
 *
 * The depot is a mutex-protected array of pointers: it is touched once per
 * batch (dozens to hundreds of items), never per item on the hot path.
 * Any thread. Items are not owned by the depot: they belong to the chunks
 * and slabs of the pools that made them, which outlive it.
 */
#ifndef SPOOL_DEPOT_H
#define SPOOL_DEPOT_H

#include <pthread.h>
#include <stddef.h>

typedef struct spool__depot {
    pthread_mutex_t mu;
    void **items;
    size_t len, cap;
} spool__depot;

void spool__depot_init(spool__depot *d);
void spool__depot_destroy(spool__depot *d);
/* Stores items[0..n). Returns how many it took: fewer than n only if its
 * array cannot grow (the caller keeps the rest). */
size_t spool__depot_put(spool__depot *d, void *const items[], size_t n);
/* Moves up to max items into out[]; returns how many. */
size_t spool__depot_take(spool__depot *d, void *out[], size_t max);

#endif /* SPOOL_DEPOT_H */
