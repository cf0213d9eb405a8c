/*
 * task.h — the task record, and task.c's interface: the records' per-worker
 * caches (allocated in slabs) and spawning on the current worker. (The
 * join protocol's frame is here too: it is part of the record's join
 * word; its code is join.c, join.h.)
 *
 * Ownership: a record belongs to the runtime from spool_spawn until it is
 * joined (spool_join / spool_gather free it); the fields below say who may
 * touch each. Records are allocated from per-worker caches (task.c) and all
 * of them are freed with the runtime, so even a task never joined leaks
 * nothing past spool_run.
 *
 * Handles: the spool_task pointer users hold (what spool_spawn,
 * spool_spawn_on, spool_group_spawn and spool_current return, and
 * on_task_error receives) is not the record's address but that address
 * with the record's generation in its low SPOOL__HANDLE_BITS bits, which
 * the records' 64-byte alignment leaves free. The generation counts the
 * record's frees, so a handle kept past its task's join (or a detached
 * task's end) no longer matches: every public call taking a task checks
 * it (one load and compare, on the record's own cache line) and reports
 * the stale handle (join: an abort; the others: -EINVAL) instead of
 * acting on whatever task the record holds now. The check is exact while
 * the record has been handed out again fewer than 2^SPOOL__HANDLE_BITS
 * times since; after that a stale handle goes unseen when that count is
 * a multiple of 2^SPOOL__HANDLE_BITS. Inside the runtime, records are
 * plain pointers: only the public entry points tag and untag.
 */
#ifndef SPOOL_TASK_H
#define SPOOL_TASK_H

#include "context.h"
#include "stack.h"

#include <spool/spool.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct spool__join_frame;
struct spool__worker;
struct spool__runtime;

/* The join word's value once the task has exited and published its result. */
#define SPOOL__JOIN_DONE ((struct spool__join_frame *)(uintptr_t)1)
/* ... and once its joiner has freed the record: a second join sees it and
 * aborts, until the record is reused by a later spawn. */
#define SPOOL__JOIN_FREED ((struct spool__join_frame *)(uintptr_t)2)
/* ... while the task runs detached (spool_detach): its exit path frees it. */
#define SPOOL__JOIN_DETACHED ((struct spool__join_frame *)(uintptr_t)3)
/* Whether a join word holds a joiner's frame. */
static inline bool spool__join_is_frame(const struct spool__join_frame *f)
{
    return (uintptr_t)f > 3;
}

/* Records are aligned to a cache line (each is one line in a plain
 * build), which frees the low bits of their addresses for handles. */
#define SPOOL__TASK_ALIGN 64
#define SPOOL__HANDLE_BITS 6
#define SPOOL__HANDLE_MASK ((uintptr_t)SPOOL__TASK_ALIGN - 1)
_Static_assert(SPOOL__TASK_ALIGN == 1 << SPOOL__HANDLE_BITS, "a handle's generation fills the alignment's bits");

/* Aligned as a whole (an _Alignas on the union's member would pad the
 * union to a line of its own). */
struct __attribute__((aligned(SPOOL__TASK_ALIGN))) spool_task {
    union {
        /* From the first run on: saved registers while not running; the
         * worker running it. */
        spool__ctx ctx;
        /* Until the first run: what releases u.start.arg if fn never runs
         * (spool_spawn_owned; NULL: nothing). Spawn writes it; the worker
         * that fails to start the task reads it (spool__task_never_runs);
         * the first run's spool__ctx_init overwrites it. */
        spool_drop_fn drop;
    };
    spool__stack *stack;        /* NULL until first run and after exit; the worker running it */
    union {
        /* Until the first run: what to run (spawn writes, task_entry reads). */
        struct {
            spool_fn fn;
            void *arg;
        } start;
        /* From the first run on (task_entry writes; the task only, except
         * rt, which is read-only from then on and read by anyone who wins
         * its unpark: a task that has never run cannot be parked). */
        struct {
            spool_timeout *scope;       /* innermost timeout scope */
            struct spool__runtime *rt;  /* its runtime */
        } run;
    } u;
    /* Intrusive link for the inject queue and record free lists: whoever
     * holds the task in such a list. Atomic because the inject queue's
     * producers link through it (inject.c). */
    _Atomic(spool_task *) next;
    /* NULL: nobody joins yet; SPOOL__JOIN_DONE: exited; SPOOL__JOIN_FREED:
     * joined and freed; SPOOL__JOIN_DETACHED: its exit frees it; else the
     * frame of the joiner waiting. While the task lives it is written once
     * by the joiner (CAS NULL -> frame) or spool_detach, and once by the
     * exit path (exchange -> DONE); acq_rel on both sides makes `result`
     * visible to the joiner (runtime/join.c). Spawn (NULL) and free (FREED)
     * write it while nobody else can. */
    _Atomic(struct spool__join_frame *) join;
    int result;                 /* written by the task before exit; read by its joiner after DONE */
    /* SPOOL__STATE_*: the park token in the low two bits (wait.c), the
     * cancellation request, and whether the task has a name. Reset at
     * spawn, all but a NOTIFIED token (task.c, spool__task_init); an
     * unpark that reaches a reused record later, or a token kept from
     * before, is a spurious wake-up, which every wait tolerates (it
     * re-checks its condition). */
    _Atomic uint32_t state;
    /* Timed waits: odd while the task is in one (wait.c). Written by the
     * task, read by the worker whose timer heap holds an entry for it;
     * never reset, so an entry for an old wait (or an old task of this
     * record) can never match. */
    _Atomic uint32_t wait_seq;
    uint16_t shield;            /* shield depth; the task only */
    /* The record's generation: bumped by every free (task.c), so it names
     * one task of the record (see "Handles" above; handles hold its low
     * SPOOL__HANDLE_BITS bits). Written only by the
     * record's owner at the free; read by any thread holding a handle
     * (atomic: a stale handle's check may race the record's reuse). */
    _Atomic uint16_t gen;
#if defined(SPOOL_ASAN)
    void *asan_fake_stack;      /* ASan's fake-stack handle across a switch */
#endif
};

/* spool_task.state */
#define SPOOL__TOKEN_MASK 3u
#define SPOOL__TOKEN_EMPTY 0u
#define SPOOL__TOKEN_NOTIFIED 1u
#define SPOOL__TOKEN_PARKED 2u
#define SPOOL__STATE_CANCEL 4u  /* spool_task_cancel asked (set with release) */
#define SPOOL__STATE_NAMED 8u   /* has an entry in the name table (names.c) */

static inline bool spool__task_cancel_requested(const spool_task *t)
{
    return atomic_load_explicit(&t->state, memory_order_acquire) & SPOOL__STATE_CANCEL;
}

/* A frame a joiner keeps on its own stack while it waits for one or more
 * tasks (runtime/join.c). `pending` counts the tasks still running plus one
 * reference of the joiner; whoever takes it to zero resumes the joiner. */
struct spool__join_frame {
    _Atomic size_t pending;
    spool_task *waiter;          /* NULL: a plain thread waits on `done` */
    _Atomic uint32_t done;       /* thread joiners: set to 1 by the last exit (a futex word) */
    bool every;                  /* wake the waiter at every exit (spool_wait_any), not only the last */
};

/* The handle of record t, for the current task in it. */
static inline spool_task *spool__task_handle(const spool_task *t)
{
    uintptr_t gen = atomic_load_explicit(&t->gen, memory_order_relaxed);
    return (spool_task *)((uintptr_t)t | (gen & SPOOL__HANDLE_MASK));
}

/* The record a (non-NULL) handle points into. */
static inline spool_task *spool__handle_record(const spool_task *h)
{
    return (spool_task *)((uintptr_t)h & ~SPOOL__HANDLE_MASK);
}

/* Whether handle h names an earlier task of its record (rec, from
 * spool__handle_record): that task was freed, and the record is free or
 * holds a later task. */
static inline bool spool__handle_stale(const spool_task *h, const spool_task *rec)
{
    uintptr_t gen = atomic_load_explicit(&rec->gen, memory_order_relaxed);
    return (((uintptr_t)h ^ gen) & SPOOL__HANDLE_MASK) != 0;
}

/* Task records (task.c). Owner-only caches. */
spool_task *spool__task_alloc(struct spool__worker *w);
void spool__task_free(struct spool__worker *w, spool_task *t);
void spool__task_slabs_destroy(struct spool__worker *w);
/* Fills a fresh record for fn(arg), with no drop (set t->drop after it
 * for a handed-over arg). */
void spool__task_init(spool_task *t, spool_fn fn, void *arg);
/* Allocates, fills and schedules a task on w (spool_spawn_owned's body;
 * drop NULL: spool_spawn's). Returns: its handle ("Handles" above), or NULL if
 * no record can be had: drop has not run then (the public caller runs
 * it). */
spool_task *spool__spawn_here(struct spool__worker *w, spool_fn fn, void *arg, spool_drop_fn drop);
/* Ends t's life before its first run, on w in no task: switches its
 * record to `run`, sets its result, then runs the drop its spawner gave
 * (spool_spawn_owned), if any, exactly once. The caller then finishes t
 * as if it had exited. Worker context (the scheduler's stack). */
void spool__task_never_runs(struct spool__worker *w, spool_task *t, int result);
/* Calls fn(t, arg) on every record of rt that may hold a task;
 * records allocated concurrently may be missed. Any thread. */
void spool__task_for_each_record(struct spool__runtime *rt, void (*fn)(spool_task *, void *), void *arg);

#endif /* SPOOL_TASK_H */
