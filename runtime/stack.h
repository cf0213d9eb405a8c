/*
 * stack.h — task stacks: carved from mmap'd arenas with a guard page below
 * each, recycled through per-worker free lists, purged when the worker idles.
 *
 * Ownership: a spool__stack_pool belongs to one worker (owner-only calls);
 * a spool__stack belongs to the task running on it, then to the free list
 * of the worker where that task exited. Arena chunks belong to the pool that
 * carved them and are unmapped when that pool is destroyed, which happens
 * only after every worker of the runtime has stopped.
 */
#ifndef SPOOL_STACK_H
#define SPOOL_STACK_H

#include "context.h"
#include "depot.h"

#include <spool/spool.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct spool__stack {
    char *base;                 /* lowest usable byte; the guard page is just below */
    struct spool__stack *next;  /* free-list link, while free */
    bool dirty;                 /* pages may be resident: purge before idling */
    spool_fn fn;                /* the function of the task on it, for the overflow line
                                   (guard.c); set by the worker that gives it to a task */
    /* For spool_dump (dump.c), which reads them only while the task
     * cannot run: when the task on it first ran (the worker's last clock
     * reading; set by that worker), and the wait it parked in last (set
     * by the task at every park, spool__wait_park; current whenever its
     * token says PARKED). */
    uint64_t started;
    struct spool__wait *waiting;
#if defined(SPOOL_TSAN)
    /* ThreadSanitizer's fiber for whatever task runs on this stack: made
     * once when the slot is carved, not per task (making one costs
     * hundreds of microseconds). Reuse is sound because the task entry is
     * not instrumented, so a finished task leaves no frame on it. */
    void *tsan_fiber;
#endif
} spool__stack;

typedef struct spool__stack_chunk spool__stack_chunk;

typedef struct spool__stack_pool {
    size_t stack_size;          /* usable bytes, a whole number of pages */
    spool__stack *dirty;        /* freed since the last purge: reused first (warm) */
    spool__stack *clean;        /* purged: no resident pages */
    size_t nfree;               /* stacks on both lists */
    /* The runtime's depots, where excess stacks go and dry pools refill
     * from: dirty stacks (pages may be resident) and purged ones. Idle
     * workers purge the dirty depot (spool__stack_purge). NULL: none. */
    spool__depot *depot_dirty;
    spool__depot *depot_clean;
    spool__stack_chunk *chunks; /* every arena chunk this pool carved */
    size_t carved_in_last;      /* stacks carved from chunks (the newest) so far */
} spool__stack_pool;

/* Stacks per arena chunk: one mmap (one VMA with MADV_GUARD_INSTALL) per 256
 * stacks keeps the VMA count far below vm.max_map_count (65530) even with a
 * million stacks. */
#define SPOOL_STACKS_PER_CHUNK 256u
/* Free stacks a pool keeps for itself; past that it hands SPOOL_STACK_BATCH
 * of them to the depots when a pool that ran dry asked (depot.h). A pool
 * that runs dry takes a batch from the depots before it carves. */
#define SPOOL_STACK_CACHE 256u
#define SPOOL_STACK_BATCH 128u

void spool__stack_pool_init(spool__stack_pool *pool, size_t stack_size, spool__depot *depot_dirty,
                            spool__depot *depot_clean);
/* Unmaps every chunk. Every stack must be back (or abandoned with its task). */
void spool__stack_pool_destroy(spool__stack_pool *pool);
/* A stack for a task about to run for the first time; NULL if the arena
 * cannot grow (ENOMEM). Owner worker only. */
spool__stack *spool__stack_get(spool__stack_pool *pool);
/* Takes back a stack whose task has exited (it may come from another
 * worker's pool: stacks are interchangeable within a runtime). Owner only. */
void spool__stack_put(spool__stack_pool *pool, spool__stack *stack);
/* Returns the resident pages of up to max free stacks to the kernel — the
 * pool's own, then the dirty depot's — so a deep call once made on a stack
 * does not keep its pages. Returns how many it purged. Owner only; called
 * when the worker is about to idle (each purge is a madvise, and may cost
 * a TLB shoot-down on the other CPUs). */
size_t spool__stack_purge(spool__stack_pool *pool, size_t max);

/* Whether a purge would find anything: dirty stacks here or in the dirty
 * depot. Owner only. */
bool spool__stack_purge_wanted(spool__stack_pool *pool);

/* The bytes of the guard below each stack: one page, and on aarch64 at
 * least 64 KiB (the interval at which GCC's -fstack-clash-protection
 * probes there). Async-signal-safe once a pool has been initialised. */
size_t spool__stack_guard_size(void);

/* Whether guard pages come from MADV_GUARD_INSTALL (1) or mprotect (0). */
int spool__stack_uses_guard_install(void);

static inline char *spool__stack_top(const spool__stack_pool *pool, const spool__stack *s)
{
    return s->base + pool->stack_size;
}

#endif /* SPOOL_STACK_H */
