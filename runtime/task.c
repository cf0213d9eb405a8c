/*
 * task.c — task records (allocated in slabs, recycled per worker) and
 * spool_spawn (and spool_spawn_owned, whose drop runs here when a task
 * cannot start: spool__task_never_runs).
 */
#include "task.h"

#include "atomics.h"
#include "depot.h"
#include "failpoint.h"
#include "names.h"
#include "remote.h"
#include "scheduler.h"
#include "wait.h"
#include "worker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Records come from slabs that grow geometrically per worker: 64 records
 * (4 KiB) first, so a small runtime stays small, doubling up to 2 MiB.
 * Slabs of 2 MiB are mapped with MADV_HUGEPAGE: a million queued tasks
 * then cost 32 huge-page faults instead of 16,000 small ones (a page
 * costs ~1.7 us to allocate here, most of W1's time before this). Records
 * are handed out by bumping a pointer through the newest slab, so its
 * memory is touched only as it is used. */
#define SPOOL_SLAB_FIRST 64u
#define SPOOL_SLAB_HUGE ((size_t)2 << 20)

#if !defined(SPOOL_ASAN)
/* One cache line a task: W1's million queued tasks cost 64 MiB, and
 * doubling it measured ~1.5x slower there (fresh pages cost ~1.6 us). */
_Static_assert(sizeof(spool_task) == 64, "a task record is one cache line");
#endif

struct spool__task_slab {
    struct spool__task_slab *next; /* first member: the tests walk the list */
    size_t mapped;                 /* bytes mapped, or 0 if it came from aligned_alloc */
    size_t count;                  /* records in tasks[] */
    spool_task tasks[];            /* at offset SPOOL__TASK_ALIGN (the records' alignment) */
};
_Static_assert(sizeof(struct spool__task_slab) % SPOOL__TASK_ALIGN == 0, "slab sizes keep the records aligned");

/* A new slab for w, made the one records are bumped from; false if memory
 * runs out. */
static bool new_slab(spool__worker *w)
{
    if (spool__failpoint_hit(SPOOL__FAIL_TASK_SLAB))
        return false;
    size_t count = w->slab_next_count ? w->slab_next_count : SPOOL_SLAB_FIRST;
    size_t bytes = sizeof(struct spool__task_slab) + count * sizeof(spool_task);
    struct spool__task_slab *slab;
    if (bytes >= SPOOL_SLAB_HUGE) {
        /* Twice the size, then trimmed to a 2 MiB-aligned 2 MiB: a huge
         * page needs the alignment (Linux 6.7+ aligns large maps itself,
         * older kernels do not). */
        bytes = SPOOL_SLAB_HUGE;
        char *map = mmap(NULL, 2 * bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (map == MAP_FAILED)
            return false;
        char *start = (char *)(((uintptr_t)map + bytes - 1) & ~(uintptr_t)(bytes - 1));
        if (start > map)
            munmap(map, (size_t)(start - map));
        if (start + bytes < map + 2 * bytes)
            munmap(start + bytes, (size_t)(map + 2 * bytes - (start + bytes)));
        slab = (struct spool__task_slab *)start;
        madvise(slab, bytes, MADV_HUGEPAGE);
        slab->mapped = bytes;
        count = (bytes - sizeof *slab) / sizeof(spool_task);
    } else {
        /* Aligned as the records are (task.h: handles use the low bits
         * of their addresses; calloc gives 16), and zeroed, as mmap's
         * pages are: the shutdown scan reads the park token of records
         * never handed out (task_for_each_record). bytes is a multiple
         * of the alignment already (the records' size is). */
        slab = aligned_alloc(SPOOL__TASK_ALIGN, bytes);
        if (!slab)
            return false;
        memset(slab, 0, bytes);
        slab->mapped = 0;
        w->slab_next_count = count * 2;
    }
    slab->count = count;
    slab->next = atomic_load_explicit(&w->slabs, memory_order_relaxed);
    /* Release: a scanner that sees the slab sees its header. The fence
     * pairs with the one in spool__runtime_begin_cancel_all (runtime.c),
     * between the `cancelling` store and the scan: either the scan sees
     * this slab (and leaves its records a token), or every task spawned
     * from it later sees `cancelling` at its first wait. A slab is rare
     * enough for a fence. */
    atomic_store_explicit(&w->slabs, slab, memory_order_release);
    spool__fence_seq_cst();
    w->slab_bump = slab->tasks;
    w->slab_end = slab->tasks + count;
    return true;
}

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

/* The first free record of w, or NULL. */
static spool_task *pop_free(spool__worker *w)
{
    spool_task *t = w->free_tasks;
    if (t) {
        w->free_tasks = atomic_load_explicit(&t->next, memory_order_relaxed);
        w->nfree_tasks--;
    }
    return t;
}

spool_task *spool__task_alloc(spool__worker *w)
{
    for (;;) {
        spool_task *t = pop_free(w);
        if (t)
            return t;
        if (w->slab_bump != w->slab_end)
            return w->slab_bump++;
        /* Dry: records freed on other workers first (one worker has
         * nothing to balance), then a new slab. */
        if (w->rt->nworkers > 1) {
            void *batch[SPOOL_TASK_BATCH];
            size_t n = spool__depot_take(&w->rt->task_depot, batch, SPOOL_TASK_BATCH, true);
            for (size_t i = 0; i < n; i++)
                push_free(w, batch[i]);
            if (n)
                continue;
        }
        if (!new_slab(w))
            return NULL;
    }
}

void spool__task_free(spool__worker *w, spool_task *t)
{
    if (atomic_load_explicit(&t->state, memory_order_relaxed) & SPOOL__STATE_NAMED)
        spool__name_forget(t);
    atomic_store_explicit(&t->join, SPOOL__JOIN_FREED, memory_order_relaxed);
    /* A new generation: the freed task's handles are stale from here on
     * (task.h, "Handles"). Only the record's owner writes gen, so a load
     * and a store do; relaxed: the record reaches its next owner through
     * the free list or the depot, which order it. */
    uint16_t gen = atomic_load_explicit(&t->gen, memory_order_relaxed);
    atomic_store_explicit(&t->gen, (uint16_t)(gen + 1), memory_order_relaxed);
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
        while (n < SPOOL_TASK_BATCH && w->nfree_tasks > SPOOL_TASK_CACHE)
            batch[n++] = pop_free(w);
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
    struct spool__task_slab *s = atomic_load_explicit(&w->slabs, memory_order_relaxed);
    while (s) {
        struct spool__task_slab *next = s->next;
        if (s->mapped)
            munmap(s, s->mapped);
        else
            free(s);
        s = next;
    }
    atomic_store_explicit(&w->slabs, NULL, memory_order_relaxed);
    w->slab_bump = w->slab_end = NULL;
    w->slab_next_count = 0;
    w->free_tasks = NULL;
    w->nfree_tasks = 0;
}

void spool__task_init(spool_task *t, spool_fn fn, void *arg)
{
    t->ctx.sp = NULL;
    t->stack = NULL;
    t->u.start.fn = fn;
    t->u.start.arg = arg;
    t->result = 0;
    atomic_store_explicit(&t->next, NULL, memory_order_relaxed);
    atomic_store_explicit(&t->join, NULL, memory_order_relaxed);
    /* wait_seq carries over from the record's last task (task.h). The
     * state is cleared except for a NOTIFIED token, and never by a plain
     * store: the shutdown scan (runtime.c) may have left that token on
     * this free record, and a store over it would let the new task park
     * after the scan with a stale `cancelling` in hand (nothing orders the
     * scan's store of the flag before this thread's first check of it;
     * x86 would allow it too, through its store buffer). Kept, the token
     * makes its first park return at once, and consuming it (an acquire
     * RMW reading from the scan's release CAS, through this relaxed RMW's
     * place in the release sequence) shows it the flag. A stale token from
     * an older unpark costs one spurious wake-up (task.h). Usually the
     * state is 0 already: one load, no write. Relaxed like the stores
     * above: the push that schedules t (release) publishes them. */
    uint32_t state = atomic_load_explicit(&t->state, memory_order_relaxed);
    if (state & ~SPOOL__TOKEN_NOTIFIED)
        atomic_fetch_and_explicit(&t->state, SPOOL__TOKEN_NOTIFIED, memory_order_relaxed);
    t->shield = 0;
}

spool_task *spool__spawn_here(spool__worker *w, spool_fn fn, void *arg, spool_drop_fn drop)
{
    spool_task *t = spool__task_alloc(w);
    if (!t)
        return NULL;
    spool__task_init(t, fn, arg);
    t->drop = drop; /* after init, which clears it (ctx.sp shares its word) */
    spool_task *handle = spool__task_handle(t); /* before t is anyone else's to run */
    spool__task_schedule_new(w, t);
    return handle;
}

spool_task *spool_spawn_owned(spool_fn fn, void *arg, spool_drop_fn drop)
{
    spool__worker *w = spool__worker_current();
    spool_task *t = fn && w && w->current ? spool__spawn_here(w, fn, arg, drop) : NULL;
    if (!t && drop)
        drop(arg); /* fn never runs: arg was handed over all the same */
    return t;
}

spool_task *spool_spawn(spool_fn fn, void *arg)
{
    return spool_spawn_owned(fn, arg, NULL);
}

void spool__task_never_runs(spool__worker *w, spool_task *t, int result)
{
    spool_drop_fn drop = t->drop;
    void *arg = t->u.start.arg;
    spool__task_start_running(w, t); /* overwrites u.start */
    t->ctx.sp = NULL;                /* overwrites drop: it runs once */
    t->result = result;
    if (drop)
        drop(arg);
}

void spool__task_for_each_record(spool__runtime *rt, void (*fn)(spool_task *, void *), void *arg)
{
    for (unsigned i = 0; i <= rt->nworkers; i++) {
        spool__worker *w = i < rt->nworkers ? &rt->workers[i] : spool__remote_allocator(rt);
        if (!w)
            continue;
        for (struct spool__task_slab *s = atomic_load_explicit(&w->slabs, memory_order_acquire); s; s = s->next)
            for (size_t j = 0; j < s->count; j++)
                fn(&s->tasks[j], arg);
    }
}

spool_task *spool_current(void)
{
    spool_task *t = spool__current_task();
    return t ? spool__task_handle(t) : NULL;
}
