/*
 * scheduler.h — scheduler.c's interface: which worker this thread runs,
 * switching a task out (spool__suspend), making tasks runnable
 * (spool__wake, spool__wake_fifo, spool__task_schedule_new), waking idle
 * workers, and the worker loop. The essay is at the top of scheduler.c;
 * the worker and runtime structs are in worker.h.
 */
#ifndef SPOOL_SCHED_H
#define SPOOL_SCHED_H

#include "worker.h"

#include <spool/spool.h>

/* The worker this thread runs, or NULL. Not inlined, and a compiler
 * barrier, so that code in a task re-reads it after every switch: a task
 * may resume on another thread, and a cached TLS address would be wrong. */
spool__worker *spool__worker_current(void);
/* Makes w this thread's worker (NULL: none). Only while starting and
 * stopping a worker (runtime.c). */
void spool__worker_set_current(spool__worker *w);

/* Switches the task running on w (the current worker) out with action
 * PARK: fn(t, arg) runs on the worker's stack once t's registers are saved;
 * fn NULL means "someone already holds a way to wake t" (a timer entry).
 * Task context only. Returns when t is resumed (on whatever worker: w is
 * stale then). */
void spool__suspend(spool__worker *w, spool__park_fn fn, void *arg);

/* Puts the task running on w (the current worker) at the back of the
 * global queue and switches out, like spool_yield but never a
 * cancellation point (spool_dump's wait for another dump). Task only. */
void spool__yield_uncancellable(spool__worker *w);

/* Makes t runnable: into the LIFO slot of w (the current worker), so a task
 * woken by a running task runs on the waker's worker when the waker next
 * waits. Worker context (task or scheduler); t must be fully switched out. */
void spool__wake(spool__worker *w, spool_task *t);

/* Makes t (whose unpark the caller claimed) runnable at the back of the
 * runtime's global FIFO: for I/O completions, so that under load the
 * connections are served in the order their data came (the LIFO slot
 * and the deque would serve the newest first, and starve the oldest),
 * and any idle worker may take them. Worker context. */
void spool__wake_fifo(spool__worker *w, spool_task *t);
/* Wakes an idle worker if the global queue holds more than the one task
 * this worker, about to look for work, takes itself (after a batch of
 * spool__wake_fifo): waking a worker costs a system call on each side,
 * which for a lone completion is most of the work (echo, 6 alternating
 * runs: 9.0 -> 8.0 us of server CPU per message). Worker context. */
void spool__notify_if_queued(spool__worker *w);

/* Puts a new task on w's queues and counts it: on the deque (not the LIFO
 * slot, so another worker may steal it at once), and an idle worker is
 * woken for it if none is searching. */
void spool__task_schedule_new(spool__worker *w, spool_task *t);

/* Claims an idle worker for a producer that found nobody searching (P3):
 * returns its index (it now counts as searching), or -1. */
int spool__claim_idle_worker(spool__runtime *rt);

/* The scheduler loop of worker w; returns at shutdown. */
void spool__worker_loop(spool__worker *w);
/* Wakes a parked worker if work is queued that it could take and no worker
 * is already searching. Worker context. */
void spool__notify(spool__worker *w);

#endif /* SPOOL_SCHED_H */
