/*
 * guard.h — reporting a fault on a task's guard page (guard.c): one line on
 * stderr naming the task, its stack size and the setting to raise, then the
 * process dies of SIGSEGV as it would have without spool.
 *
 * Ownership: the SIGSEGV handler is the process's from the first spool_run
 * on (never removed: outside a worker it only passes faults on); each
 * worker thread's alternate signal stack belongs to that thread, from
 * spool__guard_thread_start to spool__guard_thread_stop.
 */
#ifndef SPOOL_GUARD_H
#define SPOOL_GUARD_H

/* Installs the SIGSEGV handler (SA_ONSTACK | SA_SIGINFO) once per process,
 * keeping the action that was in place to pass other faults to. Any
 * thread; called by spool_run before its workers start. Does nothing in
 * TSan builds (guard.c says why), nor does spool__guard_thread_start. */
void spool__guard_install(void);

/* Gives the calling thread, about to become a worker, an alternate signal
 * stack for the handler to run on (an overflowed task stack has no room
 * for a signal frame), unless the thread already has one (its owner's, or
 * a sanitizer's), which is then used as it is. If none can be had the
 * worker runs anyway: an overflow then kills the process without the
 * line. On the thread's own stack, not in a task. */
void spool__guard_thread_start(void);

/* Removes and frees what spool__guard_thread_start gave the calling
 * thread, if anything, so the caller's thread (worker 0) is left as it
 * was. Same thread, when the worker stops. */
void spool__guard_thread_stop(void);

#endif /* SPOOL_GUARD_H */
