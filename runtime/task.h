/*
 * task.h — the task record.
 *
 * Ownership: a record belongs to the runtime from spool_spawn until it is
 * joined (spool_join / spool_gather free it); the fields below say who may
 * touch each. Records are allocated from per-worker caches (task.c) and all
 * of them are freed with the runtime, so even a task never joined leaks
 * nothing past spool_run.
 */
#ifndef SPOOL_TASK_H
#define SPOOL_TASK_H

#include "context.h"
#include "stack.h"

#include <spool/spool.h>
#include <stdatomic.h>
#include <stdint.h>

struct spool__join_frame;

/* The join word's value once the task has exited and published its result. */
#define SPOOL__JOIN_DONE ((struct spool__join_frame *)(uintptr_t)1)
/* ... and once its joiner has freed the record: a second join sees it and
 * aborts, until the record is reused by a later spawn. */
#define SPOOL__JOIN_FREED ((struct spool__join_frame *)(uintptr_t)2)

struct spool_task {
    spool__ctx ctx;             /* saved registers while not running; the worker running it */
    spool__stack *stack;        /* NULL until first run and after exit; the worker running it */
    spool_fn fn;                /* set at spawn, read at first run */
    void *arg;
    int result;                 /* written by the task before exit; read by its joiner after DONE */
    /* Intrusive link for the inject queue and record free lists: whoever
     * holds the task in such a list. Atomic because the inject queue's
     * producers link through it (inject.c). */
    _Atomic(spool_task *) next;
    /* NULL: nobody joins yet; SPOOL__JOIN_DONE: exited; SPOOL__JOIN_FREED:
     * joined and freed; else the frame of the joiner waiting. While the
     * task lives it is written once by the joiner (CAS NULL -> frame) and
     * once by the exit path (exchange -> DONE); acq_rel on both sides makes
     * `result` visible to the joiner (sync/join.c). Spawn (NULL) and free
     * (FREED) write it while nobody else can. */
    _Atomic(struct spool__join_frame *) join;
#if defined(SPOOL_ASAN)
    void *asan_fake_stack;      /* ASan's fake-stack handle across a switch */
#endif
};

/* A frame a joiner keeps on its own stack while it waits for one or more
 * tasks (sync/join.c). `pending` counts the tasks still running plus one
 * reference of the joiner; whoever takes it to zero resumes the joiner. */
struct spool__join_frame {
    _Atomic size_t pending;
    spool_task *waiter;
};

#endif /* SPOOL_TASK_H */
