/*
 * join.c — joining tasks: spool_join, spool_gather, spool_wait_for,
 * spool_wait_any, spool_join_blocking, spool_detach, and the exit path's
 * side of all of them (spool__task_publish_exit).
 *
 * A joiner keeps a spool__join_frame on its stack with pending = the
 * number of tasks it registered, and registers it in each task's join
 * word (CAS NULL -> frame). A task that exits exchanges its join word for
 * DONE; if it finds a frame there, it reads what it needs from the frame
 * (waiter, every), decrements pending once — its last touch of the frame —
 * and then unparks the waiter (the decrement that reaches zero, or every
 * decrement for spool_wait_any). The joiner loops until pending is zero,
 * parking in between: since the frame is gone as soon as the joiner sees
 * zero, the exiting task touches only the waiter's record afterwards (an
 * unpark of a record, at worst spurious: wait.h). A thread joiner
 * (waiter NULL) sleeps on the futex word `done`, which the last exit sets
 * after its decrement; the futex wake that follows may reach a frame that
 * is gone, which wakes nobody.
 *
 * Orders: the exit's exchange (acq_rel) and the joiner's CAS (acq_rel) are
 * the two writes of a join word, so whichever comes second sees `result`.
 * The decrements are acq_rel and the joiner reads pending with acquire, so
 * every task's result is visible once the joiner sees zero.
 *
 * Joining is ownership: a joiner whose wait is cancelled (or times out)
 * cancels every task it waits for, waits for them with a shielded wait,
 * frees them, and returns the error.
 *
 * The public calls take handles (task.h, "Handles"): the joins check every
 * handle before they register anywhere, and abort on a stale one (its
 * task was freed already: a second join), naming the call; the join word
 * then catches what a generation cannot (two joiners at once, a join
 * after spool_detach, a task listed twice in one gather).
 */
#include "join.h"

#include "futex.h"
#include "remote.h"
#include "runtime.h"
#include "scheduler.h"
#include "task.h"
#include "wait.h"
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* Frees a finished task's record from any thread: into this worker's
 * cache, or the runtime's remote one. */
static void free_record(spool_task *t)
{
    spool__worker *w = spool__worker_current();
    if (w && w->rt == t->u.run.rt)
        spool__task_free(w, t);
    else
        spool__remote_free_record(t->u.run.rt, t);
}

/* Joining a task twice would free it twice (or, once the record holds
 * another task, take that task's result and free it under its owner):
 * say what happened, naming the call, and stop, the way glibc stops on a
 * double free. */
static _Noreturn void join_misuse(const char *call, const char *what)
{
    fprintf(stderr, "spool: %s: %s\n", call, what);
    abort();
}

/* The record of a handle a join was given; aborts if the handle is stale.
 * Where the record has been freed and not reused (its join word FREED),
 * the message says so. */
static spool_task *join_record(const char *call, const spool_task *handle)
{
    spool_task *t = spool__handle_record(handle);
    if (spool__handle_stale(handle, t)) {
        if (atomic_load_explicit(&t->join, memory_order_relaxed) == SPOOL__JOIN_FREED)
            join_misuse(call, "task handle already joined, gathered or detached (record free, not reused yet)");
        join_misuse(call, "task handle already joined, gathered or detached (record reused by a later spawn)");
    }
    return t;
}

/* A join found `seen` in a live task's join word instead of NULL or DONE. */
static _Noreturn void join_word_misuse(const char *call, const struct spool__join_frame *seen,
                                       const struct spool__join_frame *mine)
{
    if (seen == SPOOL__JOIN_FREED) /* a stale handle the generation missed (task.h) */
        join_misuse(call, "task handle already joined, gathered or detached (record free)");
    if (seen == SPOOL__JOIN_DETACHED)
        join_misuse(call, "task was detached (spool_detach): it cannot be joined");
    if (seen == mine)
        join_misuse(call, "the same task is listed twice");
    join_misuse(call, "task is already being joined (or gathered) by another caller");
}

/* A detached task that failed is never silent (spool_detach); the
 * -ECANCELED of a cancellation is not a failure. */
static void report_if_failed(spool_task *t)
{
    int r = t->result;
    bool cancelled = spool__task_cancel_requested(t) ||
                     atomic_load_explicit(&t->u.run.rt->cancelling, memory_order_relaxed);
    if (r < 0 && !(r == -ECANCELED && cancelled))
        spool__report_task_error(t->u.run.rt, t, r);
}

void spool__task_publish_exit(spool__worker *w, spool_task *t)
{
    /* acq_rel: releases `result` to the joiner's CAS and acquires its
     * frame. */
    struct spool__join_frame *f = atomic_exchange_explicit(&t->join, SPOOL__JOIN_DONE, memory_order_acq_rel);
    if (f == SPOOL__JOIN_DETACHED) {
        report_if_failed(t);
        spool__task_free(w, t);
        return;
    }
    if (!spool__join_is_frame(f))
        return; /* nobody joins yet: the joiner will find DONE */
    spool_task *waiter = f->waiter;
    bool every = f->every;
    if (!waiter) {
        if (atomic_fetch_sub_explicit(&f->pending, 1, memory_order_acq_rel) == 1) {
            atomic_store_explicit(&f->done, 1, memory_order_release);
            spool__futex_wake(&f->done); /* the frame may be gone: wakes nobody then */
        }
        return;
    }
    if (atomic_fetch_sub_explicit(&f->pending, 1, memory_order_acq_rel) == 1 || every)
        spool__unpark(waiter);
}

/* The record of handle tasks[i] (checked already). */
static inline spool_task *rec(spool_task *const tasks[], size_t i)
{
    return spool__handle_record(tasks[i]);
}

/* Registers frame in each task's join word; returns how many had already
 * exited (their words say DONE and are left so). */
static size_t register_frame(const char *call, struct spool__join_frame *frame, spool_task *const tasks[], size_t n)
{
    size_t done = 0;
    for (size_t i = 0; i < n; i++) {
        struct spool__join_frame *expected = NULL;
        if (!atomic_compare_exchange_strong_explicit(&rec(tasks, i)->join, &expected, frame, memory_order_acq_rel,
                                                     memory_order_acquire)) {
            if (expected != SPOOL__JOIN_DONE) /* another frame, ours, FREED or DETACHED */
                join_word_misuse(call, expected, frame);
            done++;
        }
    }
    return done;
}

static void cancel_unfinished(spool_task *const tasks[], size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (atomic_load_explicit(&rec(tasks, i)->join, memory_order_acquire) != SPOOL__JOIN_DONE)
            spool_task_cancel(tasks[i]);
}

/* Waits until frame->pending is zero. If the wait is cancelled or times
 * out, cancels tasks[0..n) and waits for them all the same; returns that
 * error, else 0. */
static int wait_frame(struct spool__join_frame *frame, spool_task *const tasks[], size_t n)
{
    spool__wait wt;
    int err = spool__wait_begin(&wt, UINT64_MAX);
    if (err) {
        cancel_unfinished(tasks, n);
        spool__wait_begin_shielded(&wt);
    }
    spool__wait_on(&wt, SPOOL__WAIT_JOIN, rec(tasks, 0)); /* for spool_dump */
    wt.count = (unsigned)n;
    while (atomic_load_explicit(&frame->pending, memory_order_acquire) != 0) {
        int rc = spool__wait_park(&wt);
        if (rc && atomic_load_explicit(&frame->pending, memory_order_acquire) == 0) {
            /* They all ended as the wait gave up: the join succeeded. */
            if (rc == -ETIMEDOUT)
                spool__wait_unfire(&wt);
            break;
        }
        if (rc) {
            err = rc;
            cancel_unfinished(tasks, n);
            wt.shielded = true; /* from now on: until they are all done */
        }
    }
    spool__wait_end(&wt);
    return err;
}

/* Waits for tasks[0..n) (handles) and frees them; results optional.
 * Returns the wait's error (-ECANCELED, -ETIMEDOUT), else the first
 * negative result; -EINVAL (nothing done) for a NULL entry or the caller.
 * Aborts, naming `call`, on a stale handle or a task joined elsewhere. */
static int join_all(const char *call, spool__worker *w, spool_task *const tasks[], size_t n, int results[])
{
    spool_task *self = w->current;
    for (size_t i = 0; i < n; i++)
        if (!tasks[i])
            return -EINVAL;
    /* Stale handles first (one may name a record that holds the caller
     * now), then the caller: both before anything is registered. */
    for (size_t i = 0; i < n; i++)
        join_record(call, tasks[i]);
    for (size_t i = 0; i < n; i++)
        if (rec(tasks, i) == self)
            return -EINVAL;
    struct spool__join_frame frame = {.waiter = self};
    atomic_init(&frame.pending, n);
    atomic_init(&frame.done, 0);
    size_t done = register_frame(call, &frame, tasks, n);
    if (done)
        atomic_fetch_sub_explicit(&frame.pending, done, memory_order_acq_rel);
    int err = wait_frame(&frame, tasks, n);
    w = spool__worker_current(); /* we may have moved */
    for (size_t i = 0; i < n; i++) {
        spool_task *t = rec(tasks, i);
        int r = t->result;
        if (results)
            results[i] = r;
        if (r < 0 && err == 0)
            err = r;
        spool__task_free(w, t);
    }
    return err;
}

int spool_gather(spool_task *const tasks[], size_t n, int results[])
{
    spool__worker *w = spool__worker_current();
    if (!w || !w->current)
        return -EPERM;
    if (n == 0)
        return spool__wait_check(w->current);
    if (!tasks)
        return -EINVAL;
    return join_all("spool_gather", w, tasks, n, results);
}

/* spool_join's body, for `call`. */
static int join_one(const char *call, spool__worker *w, spool_task *task)
{
    int result;
    int rc = join_all(call, w, &task, 1, &result);
    return rc == -ECANCELED || rc == -ETIMEDOUT || rc == -EINVAL ? rc : result;
}

int spool_join(spool_task *task)
{
    spool__worker *w = spool__worker_current();
    if (!w || !w->current)
        return -EPERM;
    return join_one("spool_join", w, task);
}

int spool_wait_for(spool_task *task, uint64_t timeout_ns)
{
    spool__worker *w = spool__worker_current();
    if (!w || !w->current)
        return -EPERM;
    spool_timeout to;
    spool_timeout_enter(&to, timeout_ns);
    int rc = join_one("spool_wait_for", w, task); /* an outer scope's deadline: -ETIMEDOUT all the same */
    spool_timeout_exit(&to);
    return rc;
}

/* The lowest index of a finished task, or -1. */
static int first_done(spool_task *const tasks[], size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (atomic_load_explicit(&rec(tasks, i)->join, memory_order_acquire) == SPOOL__JOIN_DONE)
            return (int)i;
    return -1;
}

int spool_wait_any(spool_task *const tasks[], size_t n, uint64_t timeout_ns)
{
    spool__worker *w = spool__worker_current();
    if (!w || !w->current)
        return -EPERM;
    if (!tasks || n == 0 || n > INT32_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!tasks[i] || spool__handle_stale(tasks[i], rec(tasks, i)) || rec(tasks, i) == w->current)
            return -EINVAL;
        struct spool__join_frame *f = atomic_load_explicit(&rec(tasks, i)->join, memory_order_acquire);
        if (f != NULL && f != SPOOL__JOIN_DONE)
            return -EINVAL; /* being joined, freed or detached */
    }
    int idx = first_done(tasks, n);
    if (idx >= 0)
        return idx;
    if (timeout_ns == 0)
        return -ETIMEDOUT;
    spool_timeout to;
    spool_timeout_enter(&to, timeout_ns);
    spool__wait wt;
    int err = spool__wait_begin(&wt, UINT64_MAX);
    if (err) { /* cancelled or out of time already: nothing registered */
        spool_timeout_exit(&to);
        return err;
    }
    /* Registered tasks wake us at every exit (every = true), and each
     * decrements pending once. */
    struct spool__join_frame frame = {.waiter = w->current, .every = true};
    atomic_init(&frame.pending, 0);
    atomic_init(&frame.done, 0);
    size_t registered = 0;
    for (size_t i = 0; i < n; i++) {
        struct spool__join_frame *expected = NULL;
        /* Relaxed: the CAS below (acq_rel) publishes the frame, and the
         * count with it, before any exit can decrement it. */
        atomic_fetch_add_explicit(&frame.pending, 1, memory_order_relaxed);
        if (atomic_compare_exchange_strong_explicit(&rec(tasks, i)->join, &expected, &frame, memory_order_acq_rel,
                                                    memory_order_acquire))
            registered++;
        else
            atomic_fetch_sub_explicit(&frame.pending, 1, memory_order_relaxed); /* DONE meanwhile */
    }
    spool__wait_on(&wt, SPOOL__WAIT_JOIN, rec(tasks, 0)); /* for spool_dump */
    wt.count = (unsigned)n;
    while ((idx = first_done(tasks, n)) < 0 && err == 0)
        err = spool__wait_park(&wt);
    /* Withdraw: a CAS frame -> NULL that succeeds means that task will
     * never touch the frame; one that fails means it exited and will
     * decrement pending exactly once. Wait (shielded) for those. */
    size_t withdrawn = 0;
    for (size_t i = 0; i < n && registered; i++) {
        struct spool__join_frame *expected = &frame;
        if (atomic_compare_exchange_strong_explicit(&rec(tasks, i)->join, &expected, NULL, memory_order_acq_rel,
                                                    memory_order_acquire))
            withdrawn++;
    }
    wt.shielded = true;
    while (registered && atomic_load_explicit(&frame.pending, memory_order_acquire) != withdrawn)
        spool__wait_park(&wt);
    spool__wait_end(&wt);
    if (idx < 0)
        idx = first_done(tasks, n);
    bool found = idx >= 0 && err != -ECANCELED; /* a task finished as the wait gave up: report it */
    if (found && err == -ETIMEDOUT)
        spool__wait_unfire(&wt); /* it succeeded after all (before `to` is left: the marks count from it) */
    spool_timeout_exit(&to);
    return found ? idx : err;
}

int spool_detach(spool_task *handle)
{
    if (!handle)
        return -EINVAL;
    spool_task *task = spool__handle_record(handle);
    if (spool__handle_stale(handle, task))
        return -EINVAL; /* joined, or detached and ended */
    struct spool__join_frame *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(&task->join, &expected, SPOOL__JOIN_DETACHED, memory_order_acq_rel,
                                                memory_order_acquire))
        return 0; /* its exit path frees it */
    if (expected != SPOOL__JOIN_DONE)
        return -EINVAL; /* joined, being joined, or detached already */
    /* Already over: free it here, and report its failure as its exit would
     * have. */
    report_if_failed(task);
    free_record(task);
    return 0;
}

int spool_join_blocking(spool_task *handle)
{
    if (!handle)
        return -EINVAL;
    if (spool_in_task())
        return -EPERM;
    spool_task *task = join_record("spool_join_blocking", handle);
    struct spool__join_frame frame = {.waiter = NULL};
    atomic_init(&frame.pending, 1);
    atomic_init(&frame.done, 0);
    struct spool__join_frame *expected = NULL;
    if (!atomic_compare_exchange_strong_explicit(&task->join, &expected, &frame, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        if (expected != SPOOL__JOIN_DONE)
            join_word_misuse("spool_join_blocking", expected, &frame);
    } else {
        while (atomic_load_explicit(&frame.done, memory_order_acquire) == 0)
            spool__futex_wait(&frame.done, 0);
    }
    int result = task->result;
    free_record(task);
    return result;
}
