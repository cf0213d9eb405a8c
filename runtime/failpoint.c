/*
 * failpoint.c — the test hooks of failpoint.h: one countdown per kind.
 */
#include "failpoint.h"

#include <stdatomic.h>

/* Checks left before the failure; 0: disarmed. Relaxed: a test arms a
 * point before it starts the runtime, which orders the store before every
 * check (thread creation synchronises). */
static _Atomic long countdown[SPOOL__FAIL_KINDS];

void spool__failpoint_arm(spool__failpoint fp, long nth)
{
    atomic_store_explicit(&countdown[fp], nth > 0 ? nth : 0, memory_order_relaxed);
}

bool spool__failpoint_hit(spool__failpoint fp)
{
    long n = atomic_load_explicit(&countdown[fp], memory_order_relaxed);
    /* Exactly one check takes the count from 1 to 0, and it never goes
     * below 0. */
    while (n > 0)
        if (atomic_compare_exchange_weak_explicit(&countdown[fp], &n, n - 1, memory_order_relaxed,
                                                  memory_order_relaxed))
            return n == 1;
    return false;
}
