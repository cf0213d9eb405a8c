/*
 * join.c — spool_join and spool_gather: a join counter on the joiner's
 * stack.
 *
 * The joiner puts a spool__join_frame on its stack with pending = n + 1
 * (n tasks plus its own reference) and registers it in each task's join
 * word (CAS NULL -> frame). A task that exits exchanges its join word for
 * DONE; if it finds a frame there, it decrements pending once, and the one
 * decrement that reaches zero wakes the joiner — exactly once. Tasks found
 * already DONE at registration are counted off by the joiner itself. The
 * joiner drops its own reference only after it has switched out (in
 * park_joiner, on the worker's stack), so nobody can wake it while its
 * registers are still live: if its own decrement is the last, it simply
 * resumes.
 *
 * Orders: the CAS (acq_rel) and the exit's exchange (acq_rel) are the two
 * writes of the join word; whichever comes second acquires the first, so
 * the joiner sees `result` (written before the exchange) in both cases.
 * The acq_rel decrements of `pending` order every task's publication
 * before the joiner's resumption.
 */
#include "scheduler.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static bool park_joiner(spool_task *t, void *arg)
{
    struct spool__join_frame *f = arg;
    return atomic_fetch_sub_explicit(&f->pending, 1, memory_order_acq_rel) == 1;
}

static void joined_twice(void)
{
    /* Joining a task twice would free it twice: say so and stop, the way
     * glibc stops on a double free. */
    fputs("spool: a task was joined (or gathered) twice\n", stderr);
    abort();
}

/* Waits for tasks[0..n) and frees them; results optional. */
static int join_all(spool__worker *w, spool_task *const tasks[], size_t n, int results[])
{
    spool_task *self = w->current;
    for (size_t i = 0; i < n; i++)
        if (!tasks[i] || tasks[i] == self)
            return -EINVAL;
    struct spool__join_frame frame;
    atomic_init(&frame.pending, n + 1);
    frame.waiter = self;
    size_t done = 0;
    for (size_t i = 0; i < n; i++) {
        struct spool__join_frame *expected = NULL;
        if (!atomic_compare_exchange_strong_explicit(&tasks[i]->join, &expected, &frame,
                                                     memory_order_acq_rel, memory_order_acquire)) {
            if (expected != SPOOL__JOIN_DONE) /* another frame, or FREED */
                joined_twice();
            done++;
        }
    }
    /* Our reference is still held, so this cannot reach zero. */
    if (done)
        atomic_fetch_sub_explicit(&frame.pending, done, memory_order_acq_rel);
    if (atomic_load_explicit(&frame.pending, memory_order_acquire) == 1)
        atomic_store_explicit(&frame.pending, 0, memory_order_relaxed); /* all done: no wait */
    else
        spool__suspend(w, park_joiner, &frame);
    w = spool__worker_current(); /* we may have moved */
    int first_error = 0;
    for (size_t i = 0; i < n; i++) {
        int r = tasks[i]->result;
        if (results)
            results[i] = r;
        if (r < 0 && first_error == 0)
            first_error = r;
        spool__task_free(w, tasks[i]);
    }
    return first_error;
}

int spool_gather(spool_task *const tasks[], size_t n, int results[])
{
    spool__worker *w = spool__worker_current();
    if (!w || !w->current)
        return -EPERM;
    if (n == 0)
        return 0;
    if (!tasks)
        return -EINVAL;
    return join_all(w, tasks, n, results);
}

int spool_join(spool_task *task)
{
    spool__worker *w = spool__worker_current();
    if (!w || !w->current)
        return -EPERM;
    if (!task || task == w->current)
        return -EINVAL;
    int result;
    join_all(w, &task, 1, &result);
    return result;
}
