/*
 * task.c — task records (allocated in slabs, recycled per worker) and
 * spool_spawn.
 */
#include "scheduler.h"

#include "failpoint.h"

#include <stdlib.h>
#include <string.h>

/* Records per slab: one malloc per 64 spawns at worst, and a slab is a few
 * KiB, so a queued task costs only its record (~64 bytes). */
#define SPOOL_TASKS_PER_SLAB 64u

struct spool__task_slab {
    struct spool__task_slab *next;
    spool_task tasks[SPOOL_TASKS_PER_SLAB];
};

/* Free records a worker keeps for itself; past that it hands
 * SPOOL_TASK_BATCH to the runtime's depot when a worker that ran dry asked
 * for them (depot.h). */
#define SPOOL_TASK_CACHE 1024u
#define SPOOL_TASK_BATCH 256u

static void push_free(spool__worker *w, spool_task *t)
{
    atomic_store_explicit(&t->next, w->free_tasks, memory_order_relaxed);
    w->free_tasks = t;
    w->nfree_tasks++;
}

spool_task *spool__task_alloc(spool__worker *w)
{
    spool_task *t = w->free_tasks;
    if (!t && w->rt->nworkers > 1) { /* one worker: nothing to balance */
        void *batch[SPOOL_TASK_BATCH];
        size_t n = spool__depot_take(&w->rt->task_depot, batch, SPOOL_TASK_BATCH);
        for (size_t i = 0; i < n; i++)
            push_free(w, batch[i]);
        t = w->free_tasks;
    }
    if (!t) {
        struct spool__task_slab *slab =
            spool__failpoint_hit(SPOOL__FAIL_TASK_SLAB) ? NULL : malloc(sizeof *slab);
        if (!slab)
            return NULL;
        slab->next = w->slabs;
        w->slabs = slab;
        for (unsigned i = 1; i < SPOOL_TASKS_PER_SLAB; i++)
            atomic_init(&slab->tasks[i].next, i + 1 < SPOOL_TASKS_PER_SLAB ? &slab->tasks[i + 1] : NULL);
        w->free_tasks = &slab->tasks[1];
        w->nfree_tasks += SPOOL_TASKS_PER_SLAB - 1;
        t = &slab->tasks[0];
    } else {
        w->free_tasks = atomic_load_explicit(&t->next, memory_order_relaxed);
        w->nfree_tasks--;
    }
    return t;
}

void spool__task_free(spool__worker *w, spool_task *t)
{
    atomic_store_explicit(&t->join, SPOOL__JOIN_FREED, memory_order_relaxed);
    push_free(w, t);
    spool__depot *d = &w->rt->task_depot;
    if (w->nfree_tasks <= SPOOL_TASK_CACHE || w->rt->nworkers == 1 || !spool__depot_low(d))
        return;
    /* One batch to stock the depot; everything past the cap if a worker
     * ran dry (it is allocating slabs meanwhile). */
    bool all = spool__depot_wanted(d);
    do {
        void *batch[SPOOL_TASK_BATCH];
        size_t n = 0;
        while (n < SPOOL_TASK_BATCH && w->nfree_tasks > SPOOL_TASK_CACHE) {
            spool_task *x = w->free_tasks;
            w->free_tasks = atomic_load_explicit(&x->next, memory_order_relaxed);
            w->nfree_tasks--;
            batch[n++] = x;
        }
        size_t kept = spool__depot_put(d, batch, n);
        if (kept < n) { /* the depot could not grow: keep the rest */
            for (size_t i = kept; i < n; i++)
                push_free(w, batch[i]);
            return;
        }
    } while (all && w->nfree_tasks > SPOOL_TASK_CACHE);
}

void spool__task_slabs_destroy(spool__worker *w)
{
    struct spool__task_slab *s = w->slabs;
    while (s) {
        struct spool__task_slab *next = s->next;
        free(s);
        s = next;
    }
    w->slabs = NULL;
    w->free_tasks = NULL;
    w->nfree_tasks = 0;
}

/* Fills a fresh record. */
void spool__task_init(spool_task *t, spool_fn fn, void *arg);
void spool__task_init(spool_task *t, spool_fn fn, void *arg)
{
    t->ctx.sp = NULL;
    t->stack = NULL;
    t->fn = fn;
    t->arg = arg;
    t->result = 0;
    atomic_store_explicit(&t->next, NULL, memory_order_relaxed);
    atomic_store_explicit(&t->join, NULL, memory_order_relaxed);
}

spool_task *spool_spawn(spool_fn fn, void *arg)
{
    spool__worker *w = spool__worker_current();
    if (!fn || !w || !w->current)
        return NULL;
    spool_task *t = spool__task_alloc(w);
    if (!t)
        return NULL;
    spool__task_init(t, fn, arg);
    spool__task_schedule_new(w, t);
    return t;
}
