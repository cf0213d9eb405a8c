/*
 * failpoint.h — test hooks that make the Nth allocation of a kind fail, so
 * the tests can prove that running out of memory (or of io_uring) gives a
 * clear error and leaves the runtime running, as the rules of the house
 * require. Off unless a test arms one; an unarmed check is one relaxed load
 * on paths that are already slow (a new slab, a new stack chunk, a ring).
 */
#ifndef SPOOL_FAILPOINT_H
#define SPOOL_FAILPOINT_H

#include <stdbool.h>

typedef enum spool__failpoint {
    SPOOL__FAIL_TASK_SLAB,   /* a slab of task records (spool_spawn -> NULL) */
    SPOOL__FAIL_STACK_CHUNK, /* an arena chunk of stacks (the task ends with -ENOMEM) */
    SPOOL__FAIL_RING,        /* a worker's driver set-up (spool_run -> -ENOMEM) */
    SPOOL__FAIL_TIMER,       /* growing a timer heap (spool_sleep_* -> -ENOMEM) */
    SPOOL__FAIL_KINDS
} spool__failpoint;

/* Arms fp: its nth check from now on fails (1: the next one), once.
 * 0 disarms it. Any thread. */
void spool__failpoint_arm(spool__failpoint fp, long nth);

/* Whether this check of fp must fail. Any thread. */
bool spool__failpoint_hit(spool__failpoint fp);

#endif /* SPOOL_FAILPOINT_H */
